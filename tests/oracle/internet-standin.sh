# internet stand-in (not the tutorial's): the machine's uplink (203.0.113.1,
# its default route via 203.0.113.254) and the internet behind it, where
# 198.51.100.8 stands in for 8.8.8.8. The same as the nsh scripts'
# step("internet stand-in").
ip netns add internet
ip link add uplink type veth peer name eth0 netns internet
ip addr add 203.0.113.1/24 dev uplink
ip link set uplink up
ip -n internet addr add 203.0.113.254/24 dev eth0
ip -n internet link set eth0 up
ip -n internet addr add 198.51.100.8/32 dev lo
ip -n internet link set lo up
ip route add default via 203.0.113.254
