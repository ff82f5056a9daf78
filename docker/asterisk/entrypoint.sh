#!/bin/sh
# Copy Madoguchi's Asterisk configuration into place and fill in what only the environment knows:
# the AMI login (MADOGUCHI_AMI_USER / MADOGUCHI_AMI_SECRET) and the IVR's AudioSocket address
# (MADOGUCHI_AUDIOSOCKET, default ivr:9092). Nothing secret is baked into the image.
set -eu
: "${MADOGUCHI_AMI_SECRET:?MADOGUCHI_AMI_SECRET must be set}"
AMI_USER=${MADOGUCHI_AMI_USER:-madoguchi}
AUDIOSOCKET=${MADOGUCHI_AUDIOSOCKET:-ivr:9092}
SRC=${MADOGUCHI_ASTERISK_CONFIG:-/etc/madoguchi/asterisk}
if [ -d "$SRC" ]; then
    find "$SRC" -maxdepth 1 -name '*.conf' -exec cp {} /etc/asterisk/ \;
fi
# The shipped dialplan points AudioSocket at the loopback IVR; inside compose it is the ivr service.
sed -i "s/127\.0\.0\.1:9092/$AUDIOSOCKET/g" /etc/asterisk/extensions.conf
# AMI listens on the compose network only (the port is not published to the host).
cat > /etc/asterisk/manager.conf <<CONF
[general]
enabled = yes
port = 5038
bindaddr = 0.0.0.0

[$AMI_USER]
secret = $MADOGUCHI_AMI_SECRET
deny = 0.0.0.0/0.0.0.0
permit = 0.0.0.0/0.0.0.0
read = system,call,agent,user,dtmf,reporting
write = system,call,agent,user,originate,reporting
CONF
chmod 600 /etc/asterisk/manager.conf
exec "$@"
