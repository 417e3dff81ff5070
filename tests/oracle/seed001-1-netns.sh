# Seed 001 (Mini Container Series Part 5), "Network namespace".
ip netns add netns1
ip netns exec netns1 ip addr show
ip netns exec netns1 ip link set dev lo up
# ip netns exec netns1 ping -c 3 127.0.0.1
