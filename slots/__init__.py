"""The atomic slot store: slots, holds, bookings; double-booking is impossible."""
