# Seed 002 (frfahim/network-namespace), "Section 01".
ip netns add earth
ip netns add neptune
ip link
ip link add earth-veth type veth peer name neptune-veth
ip link set earth-veth netns earth
ip link set neptune-veth netns neptune
ip netns exec earth ip addr
ip netns exec earth ip link set dev earth-veth up
ip netns exec earth ip link set dev lo up
ip netns exec neptune ip link set dev neptune-veth up
ip netns exec neptune ip link set dev lo up
ip netns exec earth ip addr
ip netns exec earth ip addr add 10.10.0.10/16 dev earth-veth
ip netns exec neptune ip addr add 10.10.0.20/16 dev neptune-veth
ip netns exec earth ip route add default via 10.10.0.10 dev earth-veth
ip netns exec neptune ip route add default via 10.10.0.20 dev neptune-veth
# ip netns exec earth ping 10.10.0.20; ip netns exec neptune ping 10.10.0.10
ip netns exec earth ip route
# ping 10.10.0.10 (fails)
