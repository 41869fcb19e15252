package container;

import java.util.List;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.byref.IntByReference;
import jnr.ffi.types.gid_t;
import jnr.ffi.types.uid_t;

// tag::libc[]
/** The libc functions this stage calls, bound by name through jnr-ffi, and the kernel's constants. */
public interface LibC {
    int geteuid();
    int getegid();
    int unshare(int flags);
    int setresuid(@uid_t long real, @uid_t long effective, @uid_t long saved);
    int setresgid(@gid_t long real, @gid_t long effective, @gid_t long saved);
    int setgroups(long size, @In int[] groups);
    int sethostname(String name, long length);
    int socket(int domain, int type, int protocol);
    int ioctl(int fd, long request, byte[] ifreq);
    int mount(String source, String target, String fstype, long flags, String data);
    int umount2(String target, int flags);
    int pivot_root(String newRoot, String putOld);
    int mkdir(String path, int mode);
    int chmod(String path, int mode);
    int lchown(String path, int uid, int gid);
    int mknod(String path, int mode, long device);
    int lsetxattr(String path, String name, @In byte[] value, long size, int flags);
    int lgetxattr(String path, String name, @Out byte[] value, long size);
    int chroot(String path);
    int chdir(String path);
    int close(int fd);
    int read(int fd, @Out byte[] buffer, long count);
    int write(int fd, @In byte[] buffer, long count);
    int pipe2(@Out int[] fds, int flags);
    int prctl(int option, long arg2, long arg3, long arg4, long arg5);
    int capset(@In int[] header, @In int[] data);
    int execve(String path, @In String[] argv, @In String[] envp);
    int posix_spawnp(@Out IntByReference pid, String file, Pointer fileActions, Pointer attributes,
                     @In String[] argv, @In String[] envp);
    int posix_spawn(@Out IntByReference pid, String path, Pointer fileActions, Pointer attributes,
                    @In String[] argv, @In String[] envp);
    int posix_spawn_file_actions_init(Pointer fileActions);
    int posix_spawn_file_actions_adddup2(Pointer fileActions, int fd, int newFd);
    int posix_spawn_file_actions_addopen(Pointer fileActions, int fd, String path, int flags, int mode);
    int posix_spawn_file_actions_addclosefrom_np(Pointer fileActions, int from);
    int close_range(int first, int last, int flags);
    int fcntl(int fd, int command, int arg);
    int waitpid(int pid, @Out IntByReference status, int options);
    int kill(int pid, int signal);
    String strerror(int errno);
    // For the OCI runtime's create and start (RuntimeCommands, BundleInit):
    int open(String path, int flags, int mode);
    int mkfifo(String path, int mode);
    int umask(int mask);
    int setrlimit(int resource, @In long[] limits);
    int setdomainname(String name, long length);
    int setns(int fd, int nstype);
    long signal(int signal, long handler);
    // For process.terminal (Console):
    int connect(int fd, @In byte[] address, int length);
    long sendmsg(int fd, Pointer message, int flags);
    int unlockpt(int fd);
    int ptsname_r(int fd, @Out byte[] name, long length);
    int fchown(int fd, int uid, int gid);
    int setsid();
    int dup2(int fd, int newFd);
    int ioctl(int fd, long request, long argument);
    // For the device filter on cgroup v2 (DeviceFilter): bpf(2) has no libc wrapper
    long syscall(long number, long command, Pointer attributes, long size);

    LibC LIBC = LibraryLoader.create(LibC.class).load("c");

    // <linux/sched.h>
    int CLONE_NEWUSER = 0x10000000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWNS = 0x00020000, CLONE_FS = 0x00000200;
    // <sys/mount.h>
    long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096,
            MS_REC = 16384, MS_PRIVATE = 1 << 18;
    int MNT_DETACH = 2;
    // <sys/stat.h>: a file's type, in the high bits of its mode
    int S_IFMT = 0170000, S_IFREG = 0100000, S_IFLNK = 0120000, S_IFCHR = 0020000;
    // <fcntl.h>, <sys/prctl.h>, <signal.h>
    int O_CLOEXEC = 02000000, O_RDONLY = 0, O_WRONLY = 1, O_NONBLOCK = 04000, O_PATH = 010000000;
    // arm64 took 32-bit ARM's numbers for four flags (<asm/fcntl.h>): there, x86-64's O_DIRECTORY is O_DIRECT
    int O_DIRECTORY = System.getProperty("os.arch").equals("aarch64") ? 040000 : 0200000;
    int PR_SET_CHILD_SUBREAPER = 36, PR_CAP_AMBIENT_RAISE = 2, SIGINT = 2, SIGQUIT = 3;
    long MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24, MS_SYNCHRONOUS = 16,
            MS_DIRSYNC = 128, MS_MANDLOCK = 64, MS_UNBINDABLE = 1 << 17, MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20;
    int S_IFBLK = 0060000, S_IFIFO = 0010000;
    int PR_SET_PDEATHSIG = 1, SIGKILL = 9, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_CLEAR_ALL = 4;
    // <linux/close_range.h>, <fcntl.h>
    int CLOSE_RANGE_CLOEXEC = 4, F_SETFD = 2, FD_CLOEXEC = 1;
    // <sys/prctl.h>, <linux/capability.h>, <linux/seccomp.h>
    int PR_SET_KEEPCAPS = 8, PR_CAPBSET_DROP = 24, PR_SET_NO_NEW_PRIVS = 38, PR_SET_SECCOMP = 22, SECCOMP_MODE_FILTER = 2;
    int LINUX_CAPABILITY_VERSION_3 = 0x20080522;
    // <sys/socket.h>, <linux/sockios.h>, <net/if.h>
    int AF_INET = 2, SOCK_DGRAM = 2, IFF_UP = 1;
    long SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
    // <sys/socket.h>, <fcntl.h>, <asm-generic/ioctls.h>: for the console
    int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 02000000, SOL_SOCKET = 1, SCM_RIGHTS = 1, O_RDWR = 2, O_NOCTTY = 0400;
    long TIOCSCTTY = 0x540E, TIOCSWINSZ = 0x5414, TIOCGPTPEER = 0x5441;

    static String[] nullTerminated(List<String> strings) {
        String[] array = strings.toArray(new String[strings.size() + 1]);
        array[strings.size()] = null; // C's argv and envp end with a NULL pointer
        return array;
    }
}
// end::libc[]
