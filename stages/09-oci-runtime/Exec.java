package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import static container.Cgroup.*;
import static container.Init.*;
import static container.KernelFiles.*;
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

    @Option(names = "--privileged", description = "Enter a container that runs with fewer capabilities or a seccomp filter,"
            + " with all of root's capabilities inside and no filter (this exec cannot give the command less).")
    boolean privileged;

    @ParentCommand
    Main stage; // its -q counts too: `-q exec PID` as much as `exec -q PID`

    @Override
    public Integer call() throws Exception {
        takeSignals(); // passed on once the command runs
        narrating = !(quiet || stage.quiet);
        requireContainer(pid);
        if (!privileged) requireNoMoreThanTheContainer(pid);
        return enter(pid, command.isEmpty() ? List.of("/bin/sh") : command);
    }

    static void requireContainer(int pid) {
        if (!Files.isDirectory(Path.of("/proc/" + pid)))
            throw new StageFailure("no process " + pid + " on this host");
        if (namespaceOf(Integer.toString(pid), "user").equals("?"))
            throw new StageFailure(LIBC.geteuid() != 0 ? "process " + pid + " is not yours: without sudo, exec enters only your own containers"
                    : "process " + pid + " is not a container: its namespaces cannot be read (/proc/" + pid + "/ns)");
        if (namespaceOf(Integer.toString(pid), "user").equals(namespaceOf("self", "user")))
            throw new StageFailure("process " + pid + " is not in a container of this stage: its user namespace is the host's");
    }

    // tag::exec-privileged[]
    /**
     * nsenter joins the container's user namespace first, and joining one gives a process every
     * capability in it, with a full bounding set, and nsenter has no way to give them up again
     * before it runs the command; nor can it install a seccomp filter. (runc exec does both in
     * its own init, between setns and execve.) So exec would hand its command more than the
     * container has: it refuses, unless --privileged says that is what the learner wants, as
     * docker exec --privileged does.
     */
    static void requireNoMoreThanTheContainer(int pid) {
        String bounding = statusField("/proc/" + pid + "/status", "CapBnd"), seccomp = statusField("/proc/" + pid + "/status", "Seccomp");
        if (seccomp.equals("0") && bounding.equals(statusField("/proc/self/status", "CapBnd"))) return;
        throw new StageFailure("process " + pid + " runs with fewer capabilities (CapBnd " + bounding + ")"
                + (seccomp.equals("0") ? "" : " and a seccomp filter") + ", and exec cannot start a command with less than"
                + " all of root's capabilities inside and no filter: add --privileged to enter it so, as docker exec --privileged");
    }

    static String statusField(String status, String field) {
        return read(Path.of(status)).lines().filter(l -> l.startsWith(field + ":")).map(l -> l.substring(field.length() + 1).trim())
                .findFirst().orElse("");
    }
    // end::exec-privileged[]

    // tag::setns[]
    /**
     * setns(2) into a user namespace is refused to a multi-threaded process, like unshare(2).
     * So exec leaves it to nsenter, single-threaded: it joins the user namespace first (as its
     * owner's uid, that gives it every capability there), then the others, takes the
     * container's root and working directory from /proc/PID, becomes uid 0 inside, and runs
     * the command in a child, since joining a PID namespace places only children in it. An
     * ordinary user's uid already is 0 inside, and the setgroups(2) that nsenter would make on
     * the way is denied there: --preserve-credentials keeps them as they are. Before nsenter, a
     * shell puts itself into the container's cgroups, as in stage 04, so that the command starts
     * under the container's limits.
     */
    static int enter(int pid, List<String> argv) throws IOException, InterruptedException {
        List<String> nsenter = new ArrayList<>(List.of("nsenter", "--target", Integer.toString(pid),
                "--user", "--uts", "--ipc", "--net", "--pid", "--mount", "--cgroup", "--root", "--wd"));
        if (LIBC.geteuid() != 0) nsenter.add("--preserve-credentials");
        nsenter.add("--");
        nsenter.addAll(argv);
        List<String> join = joinGroups(groupsOf(pid));
        narrate(String.join(" ", nsenter));
        List<String> shell = new ArrayList<>(List.of("/bin/sh", "-c", JOIN_GROUPS_THEN_EXEC, "exec"));
        shell.addAll(join);
        shell.addAll(nsenter);
        ProcessBuilder builder = new ProcessBuilder(shell).inheritIO();
        Map<String, String> environment = builder.environment();
        environment.clear();
        containerEnvironment(null).forEach(v -> environment.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1)));
        Process process = builder.start();
        forwardSignals((int) process.pid());
        return process.waitFor();
    }
    // end::setns[]

    /**
     * The groups the stage made for the container, as /proc/PID/cgroup names them (one line per
     * v1 hierarchy, "0::PATH" for v2): the cgroup.procs files exec must write its PID to.
     */
    static List<Path> groupsOf(int pid) {
        Map<String, Path> v1 = cgroupMounts("cgroup");
        Path v2 = cgroupMounts("cgroup2").get("");
        Set<Path> procs = new LinkedHashSet<>();
        for (String line : read(Path.of("/proc/" + pid + "/cgroup")).lines().toList()) {
            String[] fields = line.split(":", 3); // ID:CONTROLLERS:PATH
            if (!fields[2].contains("/" + WORKBOOK_GROUP + "/")) continue; // not one of the stage's groups
            Path mount = fields[1].isEmpty() ? v2 : v1.get(fields[1].split(",")[0]);
            if (mount != null) procs.add(mount.resolve(fields[2].substring(1)).resolve("cgroup.procs"));
        }
        return List.copyOf(procs);
    }

    /**
     * The shell's script is always the same: the group files are its arguments, never part of
     * it. A container names its own groups (it may make one and move itself in), and a name
     * such as "x;cd;touch EVIL;" written into the script would be run by this shell, on the host.
     * Its arguments: N, then N cgroup.procs files to write its PID to, then the command to become.
     */
    static final String JOIN_GROUPS_THEN_EXEC =
            "n=$1; shift; while [ \"$n\" -gt 0 ]; do echo $$ > \"$1\" || exit 125; shift; n=$((n - 1)); done; exec \"$@\"";

    /** The script's arguments for these groups, each said as the shell will do it. */
    static List<String> joinGroups(List<Path> groups) {
        List<String> arguments = new ArrayList<>(List.of(Integer.toString(groups.size())));
        for (Path procs : groups) {
            narrate("echo $$ > " + procs);
            arguments.add(procs.toString());
        }
        return arguments;
    }
}
