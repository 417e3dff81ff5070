# Seed 002, "Section 04", up to the ping of 8.8.8.8 that works.
. "$(dirname "${BASH_SOURCE[0]}")/seed002-3-host.sh"
# ip netns exec earth ping 8.8.8.8 -c1 (no answer)
# "sudo vi /proc/sys/net/ipv4/ip_forward: change the value 0 to 1" (the
# tutorial's sysctl line says =0 twice, a typo)
echo 1 > /proc/sys/net/ipv4/ip_forward
iptables --table nat -A POSTROUTING -s 10.10.0.0/16 ! -o planet-br -j MASQUERADE
# ip netns exec earth ping 8.8.8.8 -c3
