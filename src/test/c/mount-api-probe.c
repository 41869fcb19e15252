/*
 * A hostile command's probe, for HostileCommandTest: the ways to mount without mount(2), and
 * io_uring, tried from inside a container that holds CAP_SYS_ADMIN. It prints one line per
 * attempt (the call, then "ok" or the errno's name), then waits to be looked at from the host,
 * whose /proc/PID/mountinfo tells whether anything got mounted.
 *
 * Built static (the container's root has no C library): gcc -static -o probe mount-api-probe.c.
 * Run it only in a container: on a host, as root, it mounts a tmpfs on /mnt and /bin on /tmp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The numbers are the same on every architecture: calls added after 5.0 share them. */
enum { IO_URING_SETUP = 425, OPEN_TREE = 428, MOVE_MOUNT = 429, FSOPEN = 430, FSCONFIG = 431, FSMOUNT = 432,
       FSPICK = 433, MOUNT_SETATTR = 442, OPEN_TREE_ATTR = 467 };
enum { OPEN_TREE_CLONE = 1, MOVE_MOUNT_F_EMPTY_PATH = 4, FSCONFIG_CMD_CREATE = 6 };

static long said(const char *what, long result) {
    printf("%s: %s\n", what, result >= 0 ? "ok" : strerrorname_np(errno));
    fflush(stdout);
    return result;
}

/* As PID 1 of its namespace it would ignore SIGTERM without a handler of its own. */
static void end(int signal) {
    (void) signal;
    _exit(0);
}

int main(void) {
    signal(SIGTERM, end);
    /* a tmpfs on /mnt, in four steps: a filesystem context, its superblock, a mount, its place */
    long fs = said("fsopen(\"tmpfs\")", syscall(FSOPEN, "tmpfs", 0));
    if (fs >= 0 && said("fsconfig(FSCONFIG_CMD_CREATE)", syscall(FSCONFIG, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) >= 0) {
        long mnt = said("fsmount", syscall(FSMOUNT, fs, 0, 0));
        if (mnt >= 0) said("move_mount(tmpfs, \"/mnt\")", syscall(MOVE_MOUNT, mnt, "", AT_FDCWD, "/mnt", MOVE_MOUNT_F_EMPTY_PATH));
    }
    /* a bind mount of /bin on /tmp: a copy of a mount tree, put in place */
    long tree = said("open_tree(\"/bin\", OPEN_TREE_CLONE)", syscall(OPEN_TREE, AT_FDCWD, "/bin", OPEN_TREE_CLONE));
    if (tree >= 0) said("move_mount(/bin, \"/tmp\")", syscall(MOVE_MOUNT, tree, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH));
    /* the rest of the API, each with a descriptor that is not one: EBADF if the call is allowed */
    said("fspick", syscall(FSPICK, -1, "", 0));
    said("mount_setattr", syscall(MOUNT_SETATTR, -1, "", 0, NULL, 0));
    said("open_tree_attr", syscall(OPEN_TREE_ATTR, -1, "", 0, NULL, 0));
    /* io_uring: a ring through which calls are made that no seccomp filter sees */
    char params[120] = {0};
    said("io_uring_setup", syscall(IO_URING_SETUP, 4, params));
    printf("probed\n");
    fflush(stdout);
    pause();
    return 0;
}
