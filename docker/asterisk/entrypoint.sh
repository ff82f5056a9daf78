#!/bin/sh
# Render Madoguchi's Asterisk config templates (telephony/asterisk/*.conf, mounted read-only) into
# /etc/asterisk, the way `ivr asterisk up` renders them for its chroot (telephony.asterisk
# render_config): every @@NAME@@ gets its value, and a placeholder without a value stops the
# container instead of leaving a broken file. Secrets come from the environment only.
set -eu
: "${MADOGUCHI_AMI_SECRET:?MADOGUCHI_AMI_SECRET must be set}"
: "${MADOGUCHI_OPERATOR_SECRET:?MADOGUCHI_OPERATOR_SECRET must be set}"
SRC=${MADOGUCHI_ASTERISK_TEMPLATES:-/etc/madoguchi/asterisk}
DEST=${MADOGUCHI_ASTERISK_ETC:-/etc/asterisk}
export AST_AMI_USER="${MADOGUCHI_AMI_USER:-madoguchi}"
export AST_AMI_SECRET="$MADOGUCHI_AMI_SECRET"
export AST_OPERATOR_SECRET="$MADOGUCHI_OPERATOR_SECRET"
export AST_AUDIOSOCKET="${MADOGUCHI_AUDIOSOCKET:-ivr:9092}"
export AST_AMI_BIND="${MADOGUCHI_AMI_BIND:-0.0.0.0}"
export AST_AMI_PORT=5038
# AMI is reachable on the compose network only (never published); private ranges may log in.
export AST_AMI_PERMIT="${MADOGUCHI_AMI_PERMIT:-172.16.0.0/255.240.0.0}"
export AST_SIP_BIND="${MADOGUCHI_SIP_BIND:-0.0.0.0:5060}"
export AST_ETC_DIR=/etc/asterisk AST_RUN_DIR=/var/run/asterisk AST_LOG_DIR=/var/log/asterisk
export AST_SPOOL_DIR=/var/spool/asterisk AST_DB_DIR=/var/lib/asterisk
# The line in front of the IVR (extensions.conf, queue madoguchi-line): its seats (the IVR's
# max_calls x workers), waiting limits, and where its Japanese prompts are (`ivr asterisk sounds DIR`
# renders them; without them the waiting and busy callers hear silence, the rest works).
MADOGUCHI_LINE_SEATS="${MADOGUCHI_LINE_SEATS:-8}"
export AST_LINE_SEATS="$MADOGUCHI_LINE_SEATS"
export AST_LINE_MAX_WAITING="${MADOGUCHI_LINE_MAX_WAITING:-20}"
export AST_LINE_MAX_WAIT_MINUTES="${MADOGUCHI_LINE_MAX_WAIT_MINUTES:-15}"
export AST_LINE_CALL_SECONDS="${MADOGUCHI_LINE_CALL_SECONDS:-90}"
export AST_LINE_SOUNDS="${MADOGUCHI_LINE_SOUNDS:-/usr/share/asterisk/sounds/madoguchi}"
# The carrier trunk (telephony/asterisk/trunk.py generates the same madoguchi-trunk.conf) and the RTP
# ports (published by docker-compose.yml: keep the two in step).
TRUNK_HOST="${MADOGUCHI_TRUNK_HOST:-192.0.2.10}"
TRUNK_CODECS=$(printf '%s' "${MADOGUCHI_TRUNK_CODECS:-ulaw,alaw}" | tr -d ' ' | tr 'A-Z' 'a-z')
TRUNK_USER="${MADOGUCHI_TRUNK_REGISTER_USER:-}"
TRUNK_SECRET="${MADOGUCHI_TRUNK_REGISTER_SECRET:-}"
TRUNK_EXTERNAL="${MADOGUCHI_TRUNK_EXTERNAL_ADDRESS:-}"
TRUNK_LOCAL_NETS="${MADOGUCHI_TRUNK_LOCAL_NETS:-10.0.0.0/8,172.16.0.0/12,192.168.0.0/16}"
RTP_PORTS="${MADOGUCHI_TRUNK_RTP_PORTS:-10000-10099}"
export AST_RTP_START="${RTP_PORTS%-*}" AST_RTP_END="${RTP_PORTS#*-}"
case "$TRUNK_HOST" in ''|*[!A-Za-z0-9.:-]*) echo "MADOGUCHI_TRUNK_HOST: an address or host name, optionally :port" >&2; exit 1 ;; esac
case ",$TRUNK_CODECS," in *[!a-z,]*|*,,*) echo "MADOGUCHI_TRUNK_CODECS: a comma-separated order of ulaw, alaw" >&2; exit 1 ;; esac
if { [ -n "$TRUNK_USER" ] && [ -z "$TRUNK_SECRET" ]; } || { [ -z "$TRUNK_USER" ] && [ -n "$TRUNK_SECRET" ]; }; then
    echo "MADOGUCHI_TRUNK_REGISTER_USER and MADOGUCHI_TRUNK_REGISTER_SECRET go together" >&2; exit 1
fi
mkdir -p "$DEST"
for template in "$SRC"/*.conf; do
    name=$(basename "$template")
    case "$name" in madoguchi-test*.conf) continue ;; esac  # test-only: simulated callers and their AMI user
    perl -pe 's/@@([A-Z_]+)@@/exists $ENV{"AST_$1"} ? $ENV{"AST_$1"} : die "$ARGV: no value for $1\n"/ge' \
        "$template" > "$DEST/$name.tmp"
    mv "$DEST/$name.tmp" "$DEST/$name"
done
# The seats of queue madoguchi-line (generated, as telephony.asterisk.seat_members does).
case "$MADOGUCHI_LINE_SEATS" in ''|*[!0-9]*) echo "MADOGUCHI_LINE_SEATS must be a whole number" >&2; exit 1 ;; esac
{
    echo "; Madoguchi: the seats of queue madoguchi-line (generated at install from LINE_SEATS)."
    n=1
    while [ "$n" -le "$MADOGUCHI_LINE_SEATS" ]; do echo "member => Local/seat$n@madoguchi-seat/n"; n=$((n + 1)); done
} > "$DEST/madoguchi-seats.conf"
{
    echo "; Madoguchi: the carrier trunk (generated at install from the MADOGUCHI_TRUNK_* settings)."
    if [ -n "$TRUNK_EXTERNAL" ]; then
        printf '\n[transport-udp](+)\nexternal_media_address = %s\nexternal_signaling_address = %s\n' "$TRUNK_EXTERNAL" "$TRUNK_EXTERNAL"
        for net in $(echo "$TRUNK_LOCAL_NETS" | tr ',' ' '); do echo "local_net = $net"; done
    fi
    printf '\n[trunk]\ntype = endpoint\ncontext = madoguchi-inbound\ndisallow = all\nallow = %s\naors = trunk\n' "$TRUNK_CODECS"
    printf 'identify_by = ip\ndtmf_mode = rfc4733\ndirect_media = no\nrtp_symmetric = yes\nforce_rport = yes\nrewrite_contact = yes\ntrust_id_inbound = yes\n'
    [ -n "$TRUNK_USER" ] && printf 'outbound_auth = trunk-auth\nfrom_user = %s\n' "$TRUNK_USER"
    printf '\n[trunk]\ntype = aor\ncontact = sip:%s\nqualify_frequency = 0\n' "$TRUNK_HOST"
    printf '\n[trunk]\ntype = identify\nendpoint = trunk\nmatch = %s\n' "${TRUNK_HOST%%:*}"
    if [ -n "$TRUNK_USER" ]; then
        printf '\n[trunk-auth]\ntype = auth\nauth_type = userpass\nusername = %s\npassword = %s\n' "$TRUNK_USER" "$TRUNK_SECRET"
        printf '\n[trunk]\ntype = registration\ntransport = transport-udp\noutbound_auth = trunk-auth\n'
        printf 'server_uri = sip:%s\nclient_uri = sip:%s@%s\ncontact_user = %s\n' "$TRUNK_HOST" "$TRUNK_USER" "$TRUNK_HOST" "$TRUNK_USER"
        printf 'retry_interval = 60\nforbidden_retry_interval = 600\nexpiration = 3600\n'
    fi
} > "$DEST/madoguchi-trunk.conf"
chmod 600 "$DEST/manager.conf" "$DEST/pjsip.conf" "$DEST/madoguchi-trunk.conf"
# Asterisk drops to its own user (asterisk.conf runuser) before it reads these: its group may read them.
if getent group asterisk >/dev/null 2>&1; then
    chgrp asterisk "$DEST"/*.conf
    chmod 640 "$DEST/manager.conf" "$DEST/pjsip.conf" "$DEST/madoguchi-trunk.conf"
fi
exec "$@"
