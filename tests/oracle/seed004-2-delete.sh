# Seed 004, "Освобождение неймспейсов".
. "$(dirname "${BASH_SOURCE[0]}")/seed004-1-netns.sh"
ip netns del netns1
