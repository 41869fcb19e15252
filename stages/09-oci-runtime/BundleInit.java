package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import jnr.ffi.Memory;
import jnr.ffi.Runtime;

import static container.Bundle.*;
import static container.Capabilities.*;
import static container.Init.*;
import static container.KernelFiles.*;
import static container.LibC.*;
import static container.Mounts.*;
import static container.Narration.*;
import static container.Seccomp.noNewPrivileges;

// tag::bundle-init[]
/**
 * init's work for a bundle: the same steps as the stages' init, each driven by a field of
 * config.json instead of an option. create spawned it in the new namespaces; it says "up" on
 * fd 4, waits on fd 3 until create has written the id maps and moved it into its cgroup, sets
 * the container up, says "ok" on fd 4 (or why not), and then waits at the FIFO until `start`.
 */
final class BundleInit {
    final Bundle bundle;
    final Path stateDir;
    final Path root;

    BundleInit(Bundle bundle, Path stateDir) {
        this.bundle = bundle;
        this.stateDir = stateDir;
        this.root = bundle.rootPath();
    }

    /** java ... Main --init --bundle STATE_DIR, as create spawns it. */
    static int run(Path stateDir, boolean debug) {
        narrating = debug;
        side = "init";
        try {
            RuntimeState state = RuntimeState.load(stateDir.getParent(), stateDir.getFileName().toString());
            BundleInit init = new BundleInit(Bundle.load(Path.of((String) state.saved.get("bundle"))), stateDir);
            return init.setUpAndWait();
        } catch (IOException | RuntimeException e) {
            tell("error: " + e.getMessage());
            return STAGE_FAILED;
        }
    }

    /** A line to create on the ready pipe; it reads until end-of-file. Once create is gone (after "ok"), an error goes to stderr. */
    static void tell(String message) {
        byte[] bytes = (message + "\n").getBytes();
        if (createListens) LIBC.write(READY_PIPE_FD, bytes, bytes.length);
        else if (message.startsWith("error: ")) System.err.println(NAME + ": " + message.substring(7));
    }

    static boolean createListens = true; // until "ok": then fd 4 is closed, and its number free for another file

    int setUpAndWait() throws IOException {
        Memory.allocateDirect(Runtime.getRuntime(LIBC), 16); // jnr-ffi's helper thread, before the pids limit applies
        tell("up");
        if (LIBC.read(INIT_PIPE_FD, new byte[1], 1) != 1) return STAGE_FAILED; // create failed and has said why
        if (bundle.hasNewNamespace("user")) becomeRootOfTheUserNamespace();
        if (bundle.hostname() != null) setHostname(bundle.hostname());
        if (bundle.domainname() != null)
            check("setdomainname(\"" + bundle.domainname() + "\")", () -> LIBC.setdomainname(bundle.domainname(), bundle.domainname().length()), "");
        prepareMounts();
        bindRootfsOntoItself(root);
        List<Path> groups = RuntimeState.load(stateDir.getParent(), stateDir.getFileName().toString()).groups();
        for (Map<String, Object> mount : bundle.mounts()) BundleMounts.mount(bundle, root, mount, groups);
        BundleMounts.createDevices(bundle, root);
        if (hasHooks("prestart") || hasHooks("createRuntime")) { // run by create, now, in the host's namespaces
            tell("hooks");
            if (LIBC.read(INIT_PIPE_FD, new byte[1], 1) != 1) return STAGE_FAILED;
        }
        LIBC.close(INIT_PIPE_FD);
        Hooks.run(bundle.hooks(), "createContainer", state()); // in the container's namespaces, before pivot_root
        int fifo = check("open(\"" + stateDir.resolve("exec.fifo") + "\", O_PATH|O_CLOEXEC)",
                () -> LIBC.open(stateDir.resolve("exec.fifo").toString(), O_PATH | O_CLOEXEC, 0), "");
        if (hasHooks("startContainer")) state(); // read while the state directory is in reach
        switchRoot(root);
        bundle.sysctl().forEach((name, value) -> write(Path.of("/proc/sys", name.replace('.', '/')), value.toString()));
        for (String path : bundle.maskedPaths()) BundleMounts.mask(path);
        for (String path : bundle.readonlyPaths()) BundleMounts.readOnly(path);
        if (bundle.readonlyRoot()) BundleMounts.remountReadOnly("/");
        if (bundle.oomScoreAdj() != null) write(Path.of("/proc/self/oom_score_adj"), bundle.oomScoreAdj().toString());
        if (bundle.terminal()) console = Console.open(number(bundle.user(), "uid", 0), bundle.consoleSize()); // from the container's own devpts
        Rlimits.checkNames(bundle.rlimits()); // set last, just before execve: a small RLIMIT_AS would stop the JVM itself
        int[][] filter = bundle.seccomp() == null ? null : SeccompProfile.compile(bundle.seccomp());
        // Without no_new_privs the kernel takes a filter only from a holder of CAP_SYS_ADMIN:
        // then it goes in now, while init is still root with every capability.
        if (filter != null && !bundle.noNewPrivileges()) Seccomp.install(filter);
        becomeTheProcessUser();
        String program = resolve(bundle.args().get(0), bundle.env());
        tell("ok");
        LIBC.close(READY_PIPE_FD);
        createListens = false;
        awaitStart(fifo);
        Hooks.run(bundle.hooks(), "startContainer", state()); // after start, in the container, before its process
        if (filter != null && bundle.noNewPrivileges()) Seccomp.install(filter); // last, so that it refuses nothing of init's
        return exec(program);
    }
    // end::bundle-init[]

    /** The terminal's slave end, when process.terminal is true: it becomes the process's stdin, stdout and stderr at exec. */
    int console = -1;

    boolean hasHooks(String phase) {
        return !objects(bundle.hooks().get(phase)).isEmpty();
    }

    /** The state, for a hook's stdin: read from the state directory, which init reaches until pivot_root (it is read before). */
    String state() {
        return stateJson != null ? stateJson : (stateJson = Json.write(RuntimeState.load(stateDir.getParent(), stateDir.getFileName().toString()).spec()));
    }

    private String stateJson;

    /** create wrote the maps; the kernel still knows init by its uid outside until it asks to be 0 inside. */
    static void becomeRootOfTheUserNamespace() {
        check("setresgid(0, 0, 0)", () -> LIBC.setresgid(0, 0, 0), "");
        check("setresuid(0, 0, 0)", () -> LIBC.setresuid(0, 0, 0), "");
        check("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)", () -> LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "");
    }

    // tag::propagation[]
    /**
     * The new mount namespace is a copy of the host's, shared with it where the host's mounts
     * are shared. The spec's rootfsPropagation says how the container's mounts relate to the
     * host's; runc's default, slave, lets the host's new mounts in and none of the container's out.
     */
    void prepareMounts() {
        if (!bundle.hasNewNamespace("mount")) throw new StageFailure("config.json: linux.namespaces has no new mount namespace, which this runtime needs");
        String propagation = bundle.rootfsPropagation() == null ? "rslave" : bundle.rootfsPropagation();
        long flag = BundleMounts.PROPAGATION.getOrDefault(propagation, 0L);
        if (flag == 0 || (flag & MS_SHARED) != 0)
            throw new StageFailure("config.json: linux.rootfsPropagation " + propagation + " is not one this runtime makes (private, slave, unbindable, with r or without)");
        check("mount(NULL, \"/\", NULL, " + propagation + ", NULL)", () -> LIBC.mount(null, "/", null, flag, null), "");
    }
    // end::propagation[]

    // tag::process-user[]
    /**
     * In runc's order: the bounding set while init is still root with every capability; then
     * groups, gid and uid, keeping the permitted set across the change of uid; then the four
     * other sets exactly as config.json lists them (ambient last: the kernel takes an ambient
     * capability only if it is permitted and inheritable); no_new_privs; the working directory,
     * reached as the user; the umask.
     */
    void becomeTheProcessUser() {
        Map<String, Object> caps = bundle.capabilities();
        Set<Integer> bounding = caps == null ? null : names("bounding", caps);
        if (bounding != null) dropBoundingSet(bounding);
        Map<String, Object> user = bundle.user();
        long uid = number(user, "uid", 0), gid = number(user, "gid", 0);
        List<Long> groups = new ArrayList<>();
        if (user.get("additionalGids") instanceof List<?> l) for (Object g : l) groups.add(((Number) g).longValue());
        if (!read(Path.of("/proc/self/setgroups")).trim().equals("deny")) {
            int[] array = groups.stream().mapToInt(Long::intValue).toArray();
            check("setgroups(" + array.length + ", " + groups + ")", () -> LIBC.setgroups(array.length, array), "");
        }
        check("prctl(PR_SET_KEEPCAPS, 1)", () -> LIBC.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "");
        check("setresgid(" + gid + ")", () -> LIBC.setresgid(gid, gid, gid), "");
        check("setresuid(" + uid + ")", () -> LIBC.setresuid(uid, uid, uid), "");
        check("prctl(PR_SET_KEEPCAPS, 0)", () -> LIBC.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "");
        if (caps != null) {
            long effective = maskOf(names("effective", caps)), permitted = maskOf(names("permitted", caps)),
                    inheritable = maskOf(names("inheritable", caps));
            int[] header = {LINUX_CAPABILITY_VERSION_3, 0};
            int[] data = {(int) effective, (int) permitted, (int) inheritable, (int) (effective >>> 32), (int) (permitted >>> 32), (int) (inheritable >>> 32)};
            check("capset(effective=0x" + Long.toHexString(effective) + ", permitted=0x" + Long.toHexString(permitted)
                    + ", inheritable=0x" + Long.toHexString(inheritable) + ")", () -> LIBC.capset(header, data), "");
            // The kernel takes an ambient capability only if it is permitted and inheritable. runc's
            // own spec lists ambient ones with no inheritable set: as runc does, a warning, not a stop.
            for (int cap : names("ambient", caps)) {
                if ((permitted & inheritable & (1L << cap)) != 0)
                    check("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, " + nameOf(cap) + ")", () -> LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), "");
                else System.err.println(NAME + ": warning: ambient " + nameOf(cap) + " left out: it is not in both the permitted and the inheritable set");
            }
        }
        if (bundle.noNewPrivileges()) noNewPrivileges();
        check("chdir(\"" + bundle.cwd() + "\")", () -> LIBC.chdir(bundle.cwd()), "process.cwd must be a directory the user may enter");
        if (user.get("umask") instanceof Number umask) LIBC.umask(umask.intValue());
    }

    /** A capability set of config.json by number; an unknown name is refused, not skipped. */
    static Set<Integer> names(String set, Map<String, Object> caps) {
        Set<Integer> numbers = new LinkedHashSet<>();
        for (String name : strings(caps.get(set))) numbers.add(numberOf(name, "process.capabilities." + set));
        return numbers;
    }
    // end::process-user[]

    // lesson::await-start[] Wait at the FIFO until start, then go on to the container's process
    //   What: open("/proc/self/fd/" + fifo, O_WRONLY | O_CLOEXEC): it blocks until start opens the
    //     other end; if it fails, say why on stderr and exit with STAGE_FAILED. Write one byte ('0'), close both descriptors.
    //   Read: man 7 fifo, man 5 proc (/proc/PID/fd), the runtime spec's "start" (runtime.md)
    //   Trap: the FIFO's own path is on the host, out of reach since pivot_root: only the O_PATH
    //     descriptor opened before leads back to it.
    // tag::fifo[]
    /**
     * The FIFO was opened with O_PATH before pivot_root, since its path is on the host. Opening
     * it again for writing through /proc/self/fd blocks until a reader opens the other end:
     * that is `start`. Until then the container exists, set up, its PID known, and runs nothing
     * of its own.
     */
    static void awaitStart(int fifo) {
        int fd = LIBC.open("/proc/self/fd/" + fifo, O_WRONLY | O_CLOEXEC, 0);
        if (fd < 0) {
            System.err.println(NAME + ": open(\"/proc/self/fd/" + fifo + "\", O_WRONLY) failed: " + describe(Runtime.getRuntime(LIBC).getLastError()));
            System.exit(STAGE_FAILED);
        }
        LIBC.write(fd, new byte[]{'0'}, 1);
        LIBC.close(fd);
        LIBC.close(fifo);
    }
    // end::fifo[]

    /** PATH search in process.env's PATH, as execvp would do, inside the new root. */
    static String resolve(String name, List<String> env) {
        if (name.contains("/")) {
            if (!Files.isRegularFile(Path.of(name))) throw new StageFailure("process.args[0] " + name + ": no such file in the container");
            return name;
        }
        String path = env.stream().filter(e -> e.startsWith("PATH=")).map(e -> e.substring(5)).findFirst().orElse(String.join(":", INSIDE_PATH));
        for (String dir : path.split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) return candidate.toString();
        }
        throw new StageFailure("process.args[0] " + name + ": not found in PATH " + path);
    }

    /**
     * The shell that started init in the background set SIGINT and SIGQUIT to be ignored, and
     * an ignored signal stays ignored across execve: they go back to their default first.
     */
    int exec(String program) {
        LIBC.signal(SIGINT, 0);
        LIBC.signal(SIGQUIT, 0);
        if (console >= 0) Console.become(console);
        Descriptors.closeOnExecAbove2();
        narrate("execve(\"" + program + "\", " + bundle.args() + ")");
        String[] argv = nullTerminated(bundle.args()), envp = nullTerminated(bundle.env());
        Rlimits.apply(bundle.rlimits()); // the very last step: under RLIMIT_AS the JVM could not map one more page
        LIBC.execve(program, argv, envp);
        System.err.println("execve(\"" + program + "\") failed: " + describe(Runtime.getRuntime(LIBC).getLastError()));
        return 127;
    }

    static boolean isDirectory(Path path) {
        return Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS);
    }
}
