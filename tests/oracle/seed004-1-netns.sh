# Seed 004 (Linux network namespaces, СПбАУ), "Создание неймспейсов".
ip netns add netns1
ip netns exec netns1 ip link list
# ip netns exec netns1 ping 127.0.0.1 (connect: Network is unreachable)
ip netns exec netns1 ip link set dev lo up
# ip netns exec netns1 ping 127.0.0.1
