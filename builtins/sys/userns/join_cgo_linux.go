//go:build cgo

package userns

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// nsh_join_state is 0 when the process was not asked to join a holder, 1
// when it joined, -1 when it failed (nsh_join_err says why).
int nsh_join_state;
char nsh_join_err[512];

static void nsh_join_fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(nsh_join_err, sizeof nsh_join_err, fmt, ap);
	va_end(ap);
	nsh_join_state = -1;
}

// nsh_join enters the user, mount and network namespaces of the holder
// named by $_NSH_USERNS_JOIN ("PID:INODE", the inode of its user
// namespace). It runs as an ELF constructor, before the Go runtime starts
// its threads: setns(2) into a user namespace needs a single-threaded
// process, which a Go program never is once main or init runs.
__attribute__((constructor)) static void nsh_join(void) {
	const char *v = getenv("_NSH_USERNS_JOIN");
	if (v == NULL || *v == 0)
		return;
	long pid;
	unsigned long long ino;
	if (sscanf(v, "%ld:%llu", &pid, &ino) != 2) {
		nsh_join_fail("bad _NSH_USERNS_JOIN %s", v);
		return;
	}
	static const char *names[3] = {"user", "mnt", "net"};
	static const int types[3] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET};
	int fds[3] = {-1, -1, -1};
	char path[64];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, names[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			nsh_join_fail("cannot open %s: %s", path, strerror(errno));
			goto out;
		}
	}
	struct stat st;
	if (fstat(fds[0], &st) < 0 || (unsigned long long)st.st_ino != ino) {
		nsh_join_fail("process %ld is no longer the holder of your labs", pid);
		goto out;
	}
	// The mount namespace puts the process at its root: come back to the
	// same directory, which the holder's copy of the mounts has too.
	char cwd[PATH_MAX];
	int have_cwd = getcwd(cwd, sizeof cwd) != NULL;
	for (int i = 0; i < 3; i++) {
		if (setns(fds[i], types[i]) < 0) {
			nsh_join_fail("setns into the %s namespace of process %ld: %s", names[i], pid, strerror(errno));
			goto out;
		}
	}
	if (have_cwd && chdir(cwd) < 0) {
		nsh_join_fail("cannot enter the working directory %s inside the namespaces: %s", cwd, strerror(errno));
		goto out;
	}
	nsh_join_state = 1;
out:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}
*/
import "C"

import "errors"

// cgoJoin is true: this nsh can join a holder's namespaces.
const cgoJoin = true

// joinResult reports what the constructor did: whether it joined a
// holder's namespaces, or why it failed.
func joinResult() (bool, error) {
	switch C.nsh_join_state {
	case 1:
		return true, nil
	case -1:
		return false, errors.New(C.GoString(&C.nsh_join_err[0]))
	}
	return false, nil
}
