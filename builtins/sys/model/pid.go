package model

import "fmt"

// NameOfPid implements kernel.Kernel. The model runs no processes, so no
// namespace of it is given by one.
func (k *Kernel) NameOfPid(pid int) (string, error) {
	return "", fmt.Errorf("no namespace of process %d: the model runs no processes, so a namespace given by a pid needs the real kernel", pid)
}
