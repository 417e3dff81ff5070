# Seed 002, "Section 02", after section 01 and its deletion.
. "$(dirname "${BASH_SOURCE[0]}")/seed002-1-veth.sh"
ip netns delete earth
ip netns delete neptune
ip netns add earth
ip netns add neptune
ip link add earth-veth type veth peer name earth-br-veth
ip link add neptune-veth type veth peer name neptune-br-veth
ip link set earth-veth netns earth
ip link set neptune-veth netns neptune
ip netns exec earth ip addr add 10.10.0.10/16 dev earth-veth
ip netns exec neptune ip addr add 10.10.0.20/16 dev neptune-veth
ip link add planet-br type bridge
ip link set earth-br-veth master planet-br
ip link set neptune-br-veth master planet-br
ip link set planet-br up
ip link set earth-br-veth up
ip link set neptune-br-veth up
ip netns exec earth ip link set dev lo up
ip netns exec earth ip link set dev earth-veth up
ip netns exec neptune ip link set dev lo up
ip netns exec neptune ip link set dev neptune-veth up
# ip netns exec earth ping 10.10.0.20 -c1; ip netns exec neptune ping 10.10.0.10 -c1
ip netns exec earth ip route
# ping 10.10.0.10 -c1 (fails)
