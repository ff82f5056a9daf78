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
mkdir -p "$DEST"
for template in "$SRC"/*.conf; do
    name=$(basename "$template")
    [ "$name" = "madoguchi-test.conf" ] && continue  # test-only simulated callers
    perl -pe 's/@@([A-Z_]+)@@/exists $ENV{"AST_$1"} ? $ENV{"AST_$1"} : die "$ARGV: no value for $1\n"/ge' \
        "$template" > "$DEST/$name.tmp"
    mv "$DEST/$name.tmp" "$DEST/$name"
done
chmod 600 "$DEST/manager.conf" "$DEST/pjsip.conf"
exec "$@"
