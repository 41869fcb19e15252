package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import static container.Checks.*;
import static container.Init.*;
import static container.LibC.*;
import static container.Namespaces.*;
import static container.Narration.*;
import static container.Parent.*;

/** The `exec` subcommand: a new process inside a running container, like `docker exec` or `nsenter`. */
@Command(name = "exec", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs a command inside a running container, like `docker exec` or `nsenter`.",
            "PID is the container's init as the host sees it (the stage prints it)."})
class Exec implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "PID", description = "Host PID of a process in the container.")
    int pid;

    @Parameters(index = "1..*", paramLabel = "COMMAND", description = "Command and arguments (default: /bin/sh).")
    List<String> command = new ArrayList<>();

    @Option(names = {"-q", "--quiet"}, description = "Don't narrate the system calls.")
    boolean quiet;

    @ParentCommand
    Main stage; // its -q counts too: `-q exec PID` as much as `exec -q PID`

    @Override
    public Integer call() throws Exception {
        takeSignals(); // passed on once the command runs
        narrating = !(quiet || stage.quiet);
        requireRoot();
        requireContainer(pid);
        List<String> argv = command.isEmpty() ? List.of("/bin/sh") : command;
        CompletableFuture<Integer> child = new CompletableFuture<>();
        Thread joiner = new Thread(() -> {
            try {
                child.complete(joinAndSpawn(pid, argv));
            } catch (RuntimeException e) {
                child.completeExceptionally(e);
            }
        }, "setns");
        joiner.start();
        try {
            int spawned = child.get();
            forwardSignals(spawned);
            return waitForExit(spawned);
        } catch (ExecutionException e) {
            throw (RuntimeException) e.getCause();
        }
    }

    static void requireContainer(int pid) {
        if (!Files.isDirectory(Path.of("/proc/" + pid)))
            throw new StageFailure("no process " + pid + " on this host");
        if (namespaceOf(Integer.toString(pid), "pid").equals("?")) // the host's init, on some machines, or gone
            throw new StageFailure("process " + pid + " is not a container: its namespaces cannot be read (/proc/" + pid + "/ns)");
        if (namespaceOf(Integer.toString(pid), "pid").equals(namespaceOf("self", "pid")))
            throw new StageFailure("process " + pid + " is not in a container: its PID namespace is the host's");
    }

    // tag::setns[]
    /**
     * setns(2) moves the calling thread into the namespace an open /proc/PID/ns file names.
     * Joining a PID namespace changes only where this thread's *children* go, never its own
     * PID. Joining a mount namespace is refused (EINVAL) while the thread shares its root and
     * working directory with the other threads, hence unshare(CLONE_FS) first. Then the root
     * directory is set from the container's own /proc/PID/root, as nsenter --root does.
     */
    static int joinAndSpawn(int pid, List<String> argv) {
        Memory.allocateDirect(Runtime.getRuntime(LIBC), 16); // starts jnr-ffi's thread now, before setns(pid)
        joinNamespaces(pid);
        String program = resolveInside(argv.get(0));
        IntByReference child = new IntByReference();
        narrate("posix_spawn(\"" + program + "\", " + argv + ")");
        Pointer onlyStdio = Memory.allocateDirect(Runtime.getRuntime(LIBC), 128); // posix_spawn_file_actions_t
        LIBC.posix_spawn_file_actions_init(onlyStdio);
        Descriptors.closeFrom(onlyStdio, 3); // the command gets nothing of this JVM's open files
        int error = LIBC.posix_spawn(child, program, onlyStdio, null, nullTerminated(argv), nullTerminated(containerEnvironment(namespaceHostname())));
        if (error != 0) throw new StageFailure("posix_spawn(\"" + program + "\") failed: " + describe(error));
        return child.getValue();
    }
    // end::setns[]

    // tag::setns[]
    static void joinNamespaces(int pid) {
        int root = open("/proc/" + pid + "/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        Map<String, Integer> files = new LinkedHashMap<>();
        for (String kind : List.of("ipc", "uts", "pid", "mnt")) files.put(kind, open("/proc/" + pid + "/ns/" + kind, O_RDONLY | O_CLOEXEC));
        check("unshare(CLONE_FS)", () -> LIBC.unshare(CLONE_FS), "");
        files.forEach((kind, fd) -> check("setns(" + fd + " /* " + kind + " */, 0)", () -> LIBC.setns(fd, 0), ""));
        check("fchdir(" + root + " /* the container's root */)", () -> LIBC.fchdir(root), "");
        check("chroot(\".\")", () -> LIBC.chroot("."), "");
        check("chdir(\"/\")", () -> LIBC.chdir("/"), "");
        files.values().forEach(LIBC::close);
        LIBC.close(root);
    }
    // end::setns[]

    static int open(String path, int flags) {
        return check("open(\"" + path + "\")", () -> LIBC.open(path, flags), "");
    }

    /** The hostname of the UTS namespace this thread is in now. */
    static String namespaceHostname() {
        byte[] name = new byte[HOST_NAME_MAX + 1];
        LIBC.gethostname(name, name.length);
        int end = 0;
        while (end < name.length && name[end] != 0) end++;
        return new String(name, 0, end);
    }
}
