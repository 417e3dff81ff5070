//go:build cgo

package join

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// An nsh_result says what the constructor did for one variable: state is
// 0 when the variable was not set, 1 when the namespaces were joined, -1
// when they could not be (err says why).
struct nsh_result {
	int state;
	char err[512];
};

struct nsh_result nsh_holder, nsh_enter;

static void nsh_fail(struct nsh_result *r, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	r->state = -1;
}

// nsh_setns joins the n namespaces fds (of kinds types, named names), in
// that order, once it has checked that the first, a user namespace, has
// the inode ino: a process that is not the one the caller looked at is
// never joined (stale says so, with pid). With keep_cwd, it goes back to
// the working directory it had after joining a mount namespace; with
// set_ids, after joining the user namespace it becomes root there (uid
// and gid 0, no supplementary groups if the namespace allows setgroups),
// as nsenter does. It closes the fds.
static void nsh_setns(struct nsh_result *r, int n, const int *fds, const int *types, const char **names, unsigned long long ino, const char *stale, long pid, int keep_cwd, int set_ids) {
	struct stat st;
	char cwd[PATH_MAX];
	int have_cwd = keep_cwd && getcwd(cwd, sizeof cwd) != NULL;
	if (types[0] != CLONE_NEWUSER || fstat(fds[0], &st) < 0 || (unsigned long long)st.st_ino != ino) {
		nsh_fail(r, stale, pid);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (setns(fds[i], types[i]) < 0) {
			nsh_fail(r, "setns into the %s namespace of process %ld: %s", names[i], pid, strerror(errno));
			goto out;
		}
		if (types[i] == CLONE_NEWUSER && set_ids) {
			if (setgroups(0, NULL) < 0 && errno != EPERM) {
				nsh_fail(r, "setgroups in the user namespace of process %ld: %s", pid, strerror(errno));
				goto out;
			}
			if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
				nsh_fail(r, "cannot become root in the user namespace of process %ld: %s", pid, strerror(errno));
				goto out;
			}
		}
	}
	// The mount namespace puts the process at its root: come back to the
	// same directory, which the other namespace's copy of the mounts has.
	if (have_cwd && chdir(cwd) < 0) {
		nsh_fail(r, "cannot enter the working directory %s inside the namespaces: %s", cwd, strerror(errno));
		goto out;
	}
	r->state = 1;
out:
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

// nsh_holder_join enters the user, mount and network namespaces of the
// holder named by $_NSH_USERNS_JOIN ("PID:INODE", the inode of its user
// namespace), keeping the working directory.
static void nsh_holder_join(const char *v) {
	static const char *names[3] = {"user", "mnt", "net"};
	static const int types[3] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET};
	int fds[3] = {-1, -1, -1};
	long pid;
	unsigned long long ino;
	char path[64];
	if (sscanf(v, "%ld:%llu", &pid, &ino) != 2) {
		nsh_fail(&nsh_holder, "bad _NSH_USERNS_JOIN %s", v);
		return;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, names[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			nsh_fail(&nsh_holder, "cannot open %s: %s", path, strerror(errno));
			for (int j = 0; j < i; j++)
				close(fds[j]);
			return;
		}
	}
	nsh_setns(&nsh_holder, 3, fds, types, names, ino, "process %ld is no longer the holder of your labs", pid, 1, 0);
}

// nsh_enter_join enters the user namespace of a container's init process
// named by $_NSH_NS_ENTER ("PID:INODE:FD": FD is a descriptor of the
// file /proc/PID/ns/user, opened by the parent and inherited; INODE its
// inode, as the parent saw it), and becomes root there. The descriptor,
// not the path, because this process already is in the container's
// mount and PID namespaces, whose /proc does not know PID.
static void nsh_enter_join(const char *v) {
	static const char *names[1] = {"user"};
	static const int types[1] = {CLONE_NEWUSER};
	long pid;
	unsigned long long ino;
	int fd;
	if (sscanf(v, "%ld:%llu:%d", &pid, &ino, &fd) != 3 || fd < 3) {
		nsh_fail(&nsh_enter, "bad _NSH_NS_ENTER %s", v);
		return;
	}
	nsh_setns(&nsh_enter, 1, &fd, types, names, ino, "process %ld is no longer the container's init process", pid, 0, 1);
}

// nsh_constructor runs as an ELF constructor, before the Go runtime starts
// its threads: setns(2) into a user namespace needs a single-threaded
// process, which a Go program never is once main or init runs.
__attribute__((constructor)) static void nsh_constructor(void) {
	const char *v = getenv("_NSH_USERNS_JOIN");
	if (v != NULL && *v != 0)
		nsh_holder_join(v);
	v = getenv("_NSH_NS_ENTER");
	if (v != NULL && *v != 0 && nsh_holder.state >= 0)
		nsh_enter_join(v);
}
*/
import "C"

import "errors"

// Available is true: this nsh has the constructor.
const Available = true

// result turns what the constructor did for one variable into Go.
func result(r *C.struct_nsh_result) (bool, error) {
	switch r.state {
	case 1:
		return true, nil
	case -1:
		return false, errors.New(C.GoString(&r.err[0]))
	}
	return false, nil
}

func holderResult() (bool, error) { return result(&C.nsh_holder) }
func enterResult() (bool, error)  { return result(&C.nsh_enter) }
