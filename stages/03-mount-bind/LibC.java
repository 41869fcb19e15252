package container;

import java.util.List;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.byref.IntByReference;

// tag::libc[]
/** The libc functions this stage calls, bound by name through jnr-ffi, and the kernel's constants. */
public interface LibC {
    int geteuid();
    int unshare(int flags);
    int setns(int fd, int nstype);
    int sethostname(String name, long length);
    int gethostname(@Out byte[] name, long length);
    int mount(String source, String target, String fstype, long flags, String data);
    int umount2(String target, int flags);
    int pivot_root(String newRoot, String putOld);
    int mkdir(String path, int mode);
    int chroot(String path);
    int chdir(String path);
    int fchdir(int fd);
    int open(String path, int flags);
    int close(int fd);
    int read(int fd, @Out byte[] buffer, long count);
    int write(int fd, @In byte[] buffer, long count);
    int pipe2(@Out int[] fds, int flags);
    int prctl(int option, long arg2, long arg3, long arg4, long arg5);
    int execve(String path, @In String[] argv, @In String[] envp);
    int posix_spawn(@Out IntByReference pid, String path, Pointer fileActions, Pointer attributes,
                    @In String[] argv, @In String[] envp);
    int posix_spawn_file_actions_init(Pointer fileActions);
    int posix_spawn_file_actions_adddup2(Pointer fileActions, int fd, int newFd);
    int posix_spawn_file_actions_addclosefrom_np(Pointer fileActions, int from);
    int close_range(int first, int last, int flags);
    int fcntl(int fd, int command, int arg);
    int waitpid(int pid, @Out IntByReference status, int options);
    int kill(int pid, int signal);
    String strerror(int errno);

    LibC LIBC = LibraryLoader.create(LibC.class).load("c");

    // <linux/sched.h>
    int CLONE_FS = 0x00000200, CLONE_NEWNS = 0x00020000, CLONE_NEWUTS = 0x04000000,
            CLONE_NEWIPC = 0x08000000, CLONE_NEWPID = 0x20000000;
    // <sys/mount.h>
    long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096,
            MS_REC = 16384, MS_PRIVATE = 1 << 18;
    int MNT_DETACH = 2;
    // <fcntl.h>, <sys/prctl.h>, <signal.h>
    int O_RDONLY = 0, O_CLOEXEC = 02000000;
    // arm64 took 32-bit ARM's numbers for four flags (<asm/fcntl.h>): there, x86-64's O_DIRECTORY is O_DIRECT
    int O_DIRECTORY = System.getProperty("os.arch").equals("aarch64") ? 040000 : 0200000;
    int PR_SET_PDEATHSIG = 1, SIGKILL = 9;
    // <linux/close_range.h>, <fcntl.h>
    int CLOSE_RANGE_CLOEXEC = 4, F_SETFD = 2, FD_CLOEXEC = 1;

    static String[] nullTerminated(List<String> strings) {
        String[] array = strings.toArray(new String[strings.size() + 1]);
        array[strings.size()] = null; // C's argv and envp end with a NULL pointer
        return array;
    }
}
// end::libc[]
