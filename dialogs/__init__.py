"""Dialog scripts, the pure dialog engine and Japanese normalizers."""
