# Seed 000 (Linux Network Virtualization), "Network Namespace Overview".
ip netns add netns1
ip netns exec netns1 ip link list
ip netns delete netns1
