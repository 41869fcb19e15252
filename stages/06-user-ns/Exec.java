package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

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
        narrating = !(quiet || stage.quiet);
        requireContainer(pid);
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

    // tag::setns[]
    /**
     * setns(2) into a user namespace is refused to a multi-threaded process, like unshare(2).
     * So exec leaves it to nsenter, single-threaded: it joins the user namespace first (as its
     * owner's uid, that gives it every capability there), then the others, takes the
     * container's root and working directory from /proc/PID, becomes uid 0 inside, and runs
     * the command in a child, since joining a PID namespace places only children in it. An
     * ordinary user's uid already is 0 inside, and the setgroups(2) that nsenter would make on
     * the way is denied there: --preserve-credentials keeps them as they are.
     */
    static int enter(int pid, List<String> argv) throws IOException, InterruptedException {
        List<String> nsenter = new ArrayList<>(List.of("nsenter", "--target", Integer.toString(pid),
                "--user", "--uts", "--ipc", "--net", "--pid", "--mount", "--root", "--wd"));
        if (LIBC.geteuid() != 0) nsenter.add("--preserve-credentials");
        nsenter.add("--");
        nsenter.addAll(argv);
        narrate(String.join(" ", nsenter));
        ProcessBuilder builder = new ProcessBuilder(nsenter).inheritIO();
        Map<String, String> environment = builder.environment();
        environment.clear();
        containerEnvironment(null).forEach(v -> environment.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1)));
        Process process = builder.start();
        forwardSignals((int) process.pid());
        return process.waitFor();
    }
    // end::setns[]
}
