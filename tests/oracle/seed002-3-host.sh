# Seed 002, "Section 03". The host's own address (192.168.0.108 on eth0)
# is the stand-in uplink's 203.0.113.1.
. "$(dirname "${BASH_SOURCE[0]}")/seed002-2-bridge.sh"
. "$(dirname "${BASH_SOURCE[0]}")/internet-standin.sh"
# ip netns exec earth ping 203.0.113.1 -c1 (connect: Network is unreachable)
ip addr add 10.10.0.1/16 dev planet-br
ip netns exec earth ip route add default via 10.10.0.1
ip netns exec neptune ip route add default via 10.10.0.1
# ip netns exec earth ping 203.0.113.1 -c1
