package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import static container.Init.*;
import static container.KernelFiles.*;
import static container.LibC.*;
import static container.Narration.*;

// tag::runtime-cli[]
/**
 * runc's command line, enough for Podman, containerd's shim and the OCI's conformance suite:
 * `oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND`. Each command is one short
 * process; what a container is between them lives in its state directory (RuntimeState).
 */
@Command(name = "oci", mixinStandardHelpOptions = true, version = {"workbook-runtime version 0.9 (stage 09)", "spec: " + RuntimeState.OCI_VERSION},
        description = "The stage as an OCI runtime, as runc is: what podman --runtime and dockerd --add-runtime run.",
        subcommands = {RuntimeCommands.Spec.class, RuntimeCommands.Create.class, RuntimeCommands.Start.class, RuntimeCommands.State.class, RuntimeCommands.Exec.class,
                RuntimeCommands.Kill.class, RuntimeCommands.Delete.class, RuntimeCommands.Run.class, RuntimeCommands.Features.class})
final class RuntimeCommands implements Callable<Integer> {
    @Option(names = "--root", paramLabel = "DIR", description = "Where containers' state lives (default: /run/workbook-runtime for root).")
    Path root;
    @Option(names = "--log", paramLabel = "FILE", description = "Errors also go to this file (containerd's shim reads them there).")
    Path log;
    @Option(names = "--log-format", paramLabel = "text|json", defaultValue = "text", description = "How --log's lines are written.")
    String logFormat;
    @Option(names = "--debug", description = "Narrate the system calls (on stderr).")
    boolean debug;
    @Option(names = "--systemd-cgroup", description = "Refused: this runtime writes cgroupsPath as a path, not as a systemd unit.")
    boolean systemdCgroup;
    @Option(names = "--rootless", paramLabel = "true|false|auto", description = "Accepted for runc's sake; who runs it decides.")
    String rootless;

    static Path logFile;
    static String logFormatUsed = "text";

    @Override
    public Integer call() {
        throw new StageFailure("a command is needed: spec, create, start, state, kill, delete, run or features (see --help)");
    }

    /** What every command does first: the global options checked, the state directory ready. */
    Path setUp() {
        logFile = log;
        logFormatUsed = logFormat;
        narrating = debug;
        if (!logFormat.equals("text") && !logFormat.equals("json")) throw new StageFailure("--log-format " + logFormat + ": text or json");
        if (systemdCgroup) throw new StageFailure("--systemd-cgroup: this runtime does not manage cgroups through systemd (podman: --cgroup-manager cgroupfs)");
        Path dir = root != null ? root.toAbsolutePath() : RuntimeState.defaultRoot();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StageFailure("--root " + dir + ": " + e.getMessage());
        }
        return dir;
    }

    /** An error, in --log's format, as runc writes it: the shim shows its msg to the user. */
    static void logError(String message) {
        if (logFile == null) return;
        String time = Instant.now().toString();
        String line = logFormatUsed.equals("json") ? Json.write(Json.of("level", "error", "msg", message, "time", time))
                : "time=\"" + time + "\" level=error msg=" + Json.quote(message);
        try {
            Files.writeString(logFile, line + "\n", java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException ignored) {
            // stderr has the message too
        }
    }
    // end::runtime-cli[]

    // tag::create[]
    @Command(name = "create", description = "Set a container up from a bundle and leave its init waiting for start.")
    static class Create implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Option(names = {"-b", "--bundle"}, paramLabel = "DIR", defaultValue = ".", description = "The bundle (default: the current directory).")
        Path bundleDir;
        @Option(names = "--pid-file", paramLabel = "FILE", description = "Write init's PID there, once it is set up.")
        Path pidFile;
        @Option(names = "--console-socket", paramLabel = "SOCKET", description = "Where to send the terminal's master end, when process.terminal is true.")
        Path consoleSocket;
        @Option(names = "--no-pivot", description = "Refused: pivot_root is how the container leaves the host's root.")
        boolean noPivot;
        @Option(names = "--no-new-keyring", description = "Accepted: no keyring is made anyway.")
        boolean noNewKeyring;
        @Parameters(paramLabel = "ID") String id;

        @Override
        public Integer call() throws Exception {
            Path root = oci.setUp();
            if (noPivot) throw new StageFailure("--no-pivot: refused, the container's root is always switched with pivot_root");
            create(root, bundleDir, pidFile, consoleSocket, id, oci.debug, false);
            return 0;
        }
    }

    /**
     * The parent's work of every stage, then an exit: the state directory, the cgroup, the
     * FIFO, init started in its namespaces, the id maps, init moved into its groups and
     * released; once init says it is set up, the state and the PID file. On any failure,
     * what was made goes again.
     */
    static RuntimeState create(Path root, Path bundleDir, Path pidFile, Path consoleSocket, String id, boolean debug, boolean subreaper) throws Exception {
        RuntimeState.checkId(id);
        Bundle bundle = Bundle.load(bundleDir);
        bundle.checkConsole(consoleSocket);
        Path dir = root.resolve(id);
        try {
            Files.createDirectory(dir);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new StageFailure("container " + id + " exists already (under " + root + ")");
        }
        Map<String, Object> state = Json.of("ociVersion", RuntimeState.OCI_VERSION, "id", id, "status", "creating", "pid", 0L,
                "bundle", bundle.dir.toString(), "rootfs", bundle.rootPath().toString(), "created", Instant.now().toString(),
                "annotations", bundle.annotations(), "cgroups", List.of(), "madeCgroups", List.of(), "hooks", bundle.hooks());
        RuntimeState.save(dir, state);
        int pid = 0, console = -1;
        CgroupsPath cgroup = null;
        try {
            cgroup = CgroupsPath.create(bundle.cgroupsPath(), id, bundle.resources(), bundle.devices());
            state.put("cgroups", cgroup.groups.stream().map(Path::toString).toList());
            state.put("madeCgroups", cgroup.made.stream().map(Path::toString).toList());
            RuntimeState.save(dir, state);
            makeFifo(dir.resolve("exec.fifo"), bundle);
            if (subreaper) check("prctl(PR_SET_CHILD_SUBREAPER, 1)", () -> LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "");
            if (consoleSocket != null) console = Console.connect(consoleSocket);
            InitProcess init = InitProcess.start(bundle, dir, debug, cgroup, console);
            if (console >= 0) LIBC.close(console); // init has it now
            console = -1;
            pid = init.pid;
            init.awaitUp();
            state.put("pid", (long) pid);
            RuntimeState creating = RuntimeState.save(dir, state);
            init.writeIdMaps(bundle);
            init.release();
            if (init.saysHooks()) { // its mounts are made, and it waits, before pivot_root
                Map<String, Object> created = creating.spec();
                created.put("status", "created"); // set up, as the suite expects (runc says "creating")
                Hooks.run(bundle.hooks(), "prestart", Json.write(created));
                Hooks.run(bundle.hooks(), "createRuntime", Json.write(created));
                init.release();
            }
            init.awaitSetUp();
            state.remove("status");
            state.put("pid", (long) pid);
            state.put("startTime", RuntimeState.startTime(pid));
            RuntimeState saved = RuntimeState.save(dir, state);
            if (pidFile != null) writePidFile(pidFile, pid);
            return saved;
        } catch (Exception | Error e) {
            if (console >= 0) LIBC.close(console);
            if (pid > 0) LIBC.kill(pid, SIGKILL);
            waitUntilGone(pid);
            if (cgroup != null) CgroupsPath.remove(cgroup.made, cgroup.groups);
            deleteRecursively(dir);
            throw e;
        }
    }
    // end::create[]

    /**
     * The FIFO, writable by init whoever it is on the host: mode 0622 (the umask would take
     * the 2s), owned by the host uid that root inside maps to when there is a user namespace.
     */
    static void makeFifo(Path fifo, Bundle bundle) {
        check("mkfifo(\"" + fifo + "\", 0622)", () -> LIBC.mkfifo(fifo.toString(), 0622), "");
        LIBC.chmod(fifo.toString(), 0622);
        if (bundle.hasNewNamespace("user")) {
            long uid = InitProcess.ranges(bundle.mappings("uidMappings")).stream().filter(r -> r[0] == 0).mapToLong(r -> r[1]).findFirst().orElse(0);
            long gid = InitProcess.ranges(bundle.mappings("gidMappings")).stream().filter(r -> r[0] == 0).mapToLong(r -> r[1]).findFirst().orElse(0);
            check("lchown(\"" + fifo + "\", " + uid + ", " + gid + ")", () -> LIBC.lchown(fifo.toString(), (int) uid, (int) gid), "");
        }
    }

    /** Written beside, then renamed: an engine that polls for the file never reads half a number. */
    static void writePidFile(Path pidFile, int pid) throws IOException {
        Path absolute = pidFile.toAbsolutePath();
        Path tmp = absolute.resolveSibling("." + absolute.getFileName() + ".tmp");
        Files.writeString(tmp, Integer.toString(pid));
        Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    // tag::start[]
    @Command(name = "start", description = "Let a created container's init run its process.")
    static class Start implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Parameters(paramLabel = "ID") String id;

        @Override
        public Integer call() {
            start(RuntimeState.load(oci.setUp(), id));
            return 0;
        }
    }

    /**
     * Opening the FIFO for reading lets init's blocked open for writing through; the byte it
     * writes says it is on its way to execve. The FIFO goes, and with it the "created" status.
     */
    static void start(RuntimeState state) {
        String status = state.status();
        if (!status.equals("created")) throw new StageFailure("container " + state.id() + " is " + status + ", not created: only a created container starts");
        int fd = check("open(\"" + state.fifo() + "\", O_RDONLY|O_NONBLOCK)", () -> LIBC.open(state.fifo().toString(), O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0), "");
        try {
            byte[] b = new byte[1];
            while (LIBC.read(fd, b, 1) != 1) {
                if (!RuntimeState.alive(state.pid(), (String) state.saved.get("startTime")))
                    throw new StageFailure("container " + state.id() + "'s init ended before it started");
                Parent.sleep(1);
            }
        } finally {
            LIBC.close(fd);
        }
        try {
            Files.deleteIfExists(state.fifo());
        } catch (IOException e) {
            throw new StageFailure("cannot remove " + state.fifo() + ": " + e.getMessage());
        }
        Hooks.run(Bundle.object(state.saved.get("hooks")), "poststart", Json.write(state.spec()));
    }
    // end::start[]

    @Command(name = "state", description = "Print a container's state, as the runtime spec says it.")
    static class State implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Parameters(paramLabel = "ID") String id;

        @Override
        public Integer call() {
            System.out.println(Json.write(RuntimeState.load(oci.setUp(), id).spec()));
            return 0;
        }
    }

    // tag::kill[]
    @Command(name = "kill", description = "Send a signal (default SIGTERM) to a container's init, or with --all to each of its processes.")
    static class Kill implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Option(names = {"-a", "--all"}, description = "Every process in the container's cgroup.") boolean all;
        @Parameters(index = "0", paramLabel = "ID") String id;
        @Parameters(index = "1", paramLabel = "SIGNAL", defaultValue = "TERM") String signal;

        @Override
        public Integer call() {
            RuntimeState state = RuntimeState.load(oci.setUp(), id);
            int number = Signals.number(signal);
            String status = state.status();
            if (!status.equals("created") && !status.equals("running")) throw new StageFailure("container " + id + " is " + status + ": no process to signal");
            List<Integer> pids = all ? CgroupsPath.pids(state.groups()) : List.of(state.pid());
            for (int pid : pids) check("kill(" + pid + ", " + number + ")", () -> LIBC.kill(pid, number), "");
            return 0;
        }
    }
    // end::kill[]

    // tag::delete[]
    @Command(name = "delete", description = "Remove a stopped container (with --force, a running one: SIGKILL first).")
    static class Delete implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Option(names = {"-f", "--force"}, description = "Kill it first if it still runs.") boolean force;
        @Parameters(paramLabel = "ID") String id;

        @Override
        public Integer call() {
            Path root = oci.setUp();
            RuntimeState.checkId(id);
            if (force && !Files.exists(root.resolve(id))) return 0; // as runc: nothing to force
            delete(RuntimeState.load(root, id), force);
            return 0;
        }
    }

    /**
     * The spec: deleting a container that is not stopped is an error, and changes nothing
     * (runc deletes a created one anyway). With --force, as the engines call it, a created or
     * running container is killed first. The PID is not this process's child (the engine reaps
     * it), so the wait is for /proc to stop showing it alive. Then its groups and its record go.
     */
    static void delete(RuntimeState state, boolean force) {
        String status = state.status();
        if (!status.equals("stopped") && !force) throw new StageFailure("container " + state.id() + " is " + status + ", not stopped: kill it first, or delete --force");
        if (!status.equals("stopped") && !status.equals("creating")) {
            Freezer.thawBeforeSignal(state.pid());
            LIBC.kill(state.pid(), SIGKILL);
            waitUntilGone(state.pid());
        }
        for (int pid : CgroupsPath.pids(state.groups())) LIBC.kill(pid, SIGKILL); // anything it left (kill --all's job)
        CgroupsPath.remove(state.madeGroups(), state.groups());
        String stopped = Json.write(state.spec());
        deleteRecursively(state.dir);
        Hooks.run(Bundle.object(state.saved.get("hooks")), "poststop", stopped);
    }
    // end::delete[]

    static void waitUntilGone(int pid) {
        if (pid <= 0) return;
        for (int i = 0; i < 1000 && RuntimeState.startTime(pid) != null; i++) Parent.sleep(5);
    }

    static void deleteRecursively(Path dir) {
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new StageFailure("cannot remove " + dir + ": " + e.getMessage());
        }
    }

    // tag::exec-command[]
    @Command(name = "exec", description = "Run one more process in a running container: the process --process FILE describes, or COMMAND.")
    static class Exec implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Option(names = {"-p", "--process"}, paramLabel = "FILE", description = "The process as JSON, as config.json's process field (what the engines pass).")
        Path processFile;
        @Option(names = {"-d", "--detach"}, description = "Return once the process runs; whoever asked to be its subreaper reaps it.")
        boolean detach;
        @Option(names = "--pid-file", paramLabel = "FILE", description = "Write the process's PID there.")
        Path pidFile;
        @Option(names = "--console-socket", paramLabel = "SOCKET", description = "Where to send the terminal's master end, when the process has one.")
        Path consoleSocket;
        @Option(names = {"-t", "--tty"}, description = "Give COMMAND a terminal, sent to --console-socket (with --process, the file's terminal says it).")
        boolean tty;
        @Option(names = "--cwd", paramLabel = "DIR", description = "With COMMAND: where it starts (default: the container's process.cwd).")
        String cwd;
        @Option(names = {"-e", "--env"}, paramLabel = "NAME=VALUE", description = "With COMMAND: one more environment variable (repeatable).")
        List<String> env = new ArrayList<>();
        @Option(names = {"-u", "--user"}, paramLabel = "UID[:GID]", description = "With COMMAND: who runs it (default: the container's process.user).")
        String user;
        @Option(names = "--preserve-fds", paramLabel = "N", defaultValue = "0", description = "Refused but for 0: only descriptors 0, 1 and 2 are passed on.")
        int preserveFds;
        @Parameters(index = "0", paramLabel = "ID") String id;
        @Parameters(index = "1..*", paramLabel = "COMMAND") List<String> command = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            Path root = oci.setUp();
            if (preserveFds != 0) throw new StageFailure("--preserve-fds " + preserveFds + ": this runtime passes on only descriptors 0, 1 and 2");
            if (processFile != null && !command.isEmpty()) throw new StageFailure("exec: give --process FILE or a COMMAND, not both");
            if (processFile == null && command.isEmpty()) throw new StageFailure("exec: nothing to run: give --process FILE or a COMMAND");
            RuntimeState state = RuntimeState.load(root, id);
            Bundle bundle = Bundle.load(Path.of((String) state.saved.get("bundle")));
            Map<String, Object> process = processFile != null ? processFile() : processLike(bundle.process());
            if (tty && !Boolean.TRUE.equals(process.get("terminal"))) throw new StageFailure("exec: --tty, and the process file's terminal is not true");
            Bundle withProcess = bundle.withProcess(process);
            withProcess.checkConsole(consoleSocket);
            return ExecProcess.run(state, withProcess, detach, pidFile, consoleSocket, oci.debug);
        }

        Map<String, Object> processFile() {
            try {
                return Json.object(Json.parse(Files.readString(processFile)), processFile.toString());
            } catch (IOException e) {
                throw new StageFailure("--process " + processFile + ": cannot read it (" + e.getMessage() + ")");
            } catch (IllegalArgumentException | ClassCastException e) {
                throw new StageFailure("--process " + processFile + ": " + e.getMessage());
            }
        }

        /** runc's way without --process: the container's own process, with COMMAND and what the options change. */
        Map<String, Object> processLike(Map<String, Object> containers) {
            Map<String, Object> process = new java.util.LinkedHashMap<>(containers);
            process.put("args", command);
            List<Object> environment = new ArrayList<>(Bundle.strings(process.get("env")));
            environment.addAll(env);
            process.put("env", environment);
            if (cwd != null) process.put("cwd", cwd);
            process.put("terminal", tty);
            User who = User.parse(user); // as the stages' --user reads it: GID defaults to UID
            if (who != null) process.put("user", Json.of("uid", who.uid(), "gid", who.gid()));
            return process;
        }
    }
    // end::exec-command[]

    // tag::run[]
    @Command(name = "run", description = "create, start, wait for the container's process, delete: its exit status is run's.")
    static class Run implements Callable<Integer> {
        @ParentCommand RuntimeCommands oci;
        @Option(names = {"-b", "--bundle"}, paramLabel = "DIR", defaultValue = ".", description = "The bundle (default: the current directory).")
        Path bundleDir;
        @Option(names = "--pid-file", paramLabel = "FILE") Path pidFile;
        @Option(names = {"-d", "--detach"}, description = "Refused: a detached container needs an engine to reap it.") boolean detach;
        @Option(names = "--console-socket", paramLabel = "SOCKET", description = "Where to send the terminal's master end, when process.terminal is true.") Path consoleSocket;
        @Parameters(paramLabel = "ID") String id;

        /**
         * The shell between run and init exits once init has started, and an orphan goes to the
         * nearest ancestor that asked to be a "subreaper": run asks, so that init is its child
         * to wait for, as the engine's conmon or shim asks for the containers it watches.
         */
        @Override
        public Integer call() throws Exception {
            Path root = oci.setUp();
            if (detach) throw new StageFailure("--detach: refused, use create and start, with an engine to reap the container");
            RuntimeState state = create(root, bundleDir, pidFile, consoleSocket, id, oci.debug, true);
            try {
                Parent.forwardSignals(state.pid());
                Parent.takeSignals();
                start(state);
                return Parent.waitForExit(state.pid());
            } finally {
                delete(RuntimeState.load(root, id), true);
            }
        }
    }
    // end::run[]

    @Command(name = "spec", description = "Write a default config.json into the bundle directory, as runc spec does.")
    static class Spec implements Callable<Integer> {
        @Option(names = {"-b", "--bundle"}, paramLabel = "DIR", defaultValue = ".") Path bundleDir;
        @Option(names = "--rootless", description = "For an ordinary user: a user namespace mapping you to root inside.") boolean rootless;

        @Override
        public Integer call() throws IOException {
            Path file = bundleDir.resolve("config.json");
            if (Files.exists(file)) throw new StageFailure(file + " exists already: remove it first");
            Files.writeString(file, DefaultSpec.pretty(DefaultSpec.of(rootless, LIBC.geteuid(), LIBC.getegid())) + "\n");
            return 0;
        }
    }

    @Command(name = "features", description = "What this runtime supports, as JSON (runc features).")
    static class Features implements Callable<Integer> {
        @Override
        public Integer call() {
            System.out.println(DefaultSpec.pretty(DefaultSpec.features()));
            return 0;
        }
    }
}
