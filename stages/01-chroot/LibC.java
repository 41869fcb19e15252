package container;

import java.util.List;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.byref.IntByReference;

// tag::libc[]
/** The few libc functions this stage calls, bound by name through jnr-ffi. */
public interface LibC {
    int geteuid();
    int unshare(int flags);
    int chroot(String path);
    int chdir(String path);
    int mkdir(String path, int mode);
    int posix_spawn_file_actions_init(Pointer fileActions);
    int posix_spawn_file_actions_addclosefrom_np(Pointer fileActions, int from);
    int posix_spawn(@Out IntByReference pid, String path, Pointer fileActions, Pointer attributes,
                    @In String[] argv, @In String[] envp);
    int waitpid(int pid, @Out IntByReference status, int options);
    int kill(int pid, int signal);
    String strerror(int errno);

    LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    int CLONE_FS = 0x00000200; // <linux/sched.h>

    static String[] nullTerminated(List<String> strings) {
        String[] array = strings.toArray(new String[strings.size() + 1]);
        array[strings.size()] = null; // C's argv and envp end with a NULL pointer
        return array;
    }
}
// end::libc[]
