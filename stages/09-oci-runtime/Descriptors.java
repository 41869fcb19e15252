package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import static container.LibC.*;
import static container.Narration.*;

/**
 * The open files a process hands on. A child gets every descriptor of its parent that is not
 * marked close-on-exec, and a JVM holds dozens: its jars, the JDK's modules, the jars JBang
 * compiled the stage into, sockets. A command that inherits one can reopen it through
 * /proc/self/fd/N, for writing, whatever its root: runc's CVE-2024-21626 ("Leaky Vessels") was
 * one such descriptor. So the parent gives init only the pipes it means to, and init marks
 * everything but stdin, stdout and stderr close-on-exec before it becomes the command.
 */
final class Descriptors {
    private Descriptors() {
    }

    /** A posix_spawn file action: in the child, close every descriptor from FIRST up, before it runs. */
    static void closeFrom(Pointer fileActions, int first) {
        int error = LIBC.posix_spawn_file_actions_addclosefrom_np(fileActions, first);
        if (error != 0) throw new StageFailure("posix_spawn_file_actions_addclosefrom_np(" + first + ") failed: " + describe(error));
    }

    // tag::close-on-exec[]
    /**
     * Every descriptor above 2 is marked close-on-exec: the kernel closes them at execve(2) if
     * it succeeds, and the JVM, whose threads still use them, keeps them if it fails.
     * close_range(2) does it in one call (Linux 5.11 and later); on an older kernel, each
     * descriptor /proc/self/fd lists gets FD_CLOEXEC by fcntl(2).
     */
    static void closeOnExecAbove2() {
        if (LIBC.close_range(3, -1, CLOSE_RANGE_CLOEXEC) == 0) {
            narrate("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) = 0");
            return;
        }
        int errno = Runtime.getRuntime(LIBC).getLastError();
        List<Integer> open;
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            open = fds.map(p -> Integer.parseInt(p.getFileName().toString())).filter(fd -> fd > 2).toList();
        } catch (IOException e) {
            throw new StageFailure("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) failed: " + describe(errno)
                    + ", and /proc/self/fd cannot be read: " + e.getMessage());
        }
        narrate("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) = -1 " + describe(errno) + ": fcntl(FD, F_SETFD, FD_CLOEXEC) for each of " + open);
        for (int fd : open) LIBC.fcntl(fd, F_SETFD, FD_CLOEXEC); // the walk's own descriptor is gone: EBADF
    }
    // end::close-on-exec[]
}
