package container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import static container.Cgroup.*;
import static container.Checks.*;
import static container.KernelFiles.*;
import static container.Narration.*;
import static container.Parent.*;

// tag::freezer[]
/**
 * docker pause: the freezer stops every process of the container's cgroup where it stands, and
 * nothing inside can tell or prevent it, as it could a SIGSTOP it had to be sent (a stopped
 * parent sees its child stop; PID 1 ignores what it has no handler for). cgroup v2 has it in
 * every group (cgroup.freeze, and "frozen 1" in cgroup.events once every process is), v1 in a
 * hierarchy of its own (freezer.state: FROZEN, after FREEZING). A frozen process keeps its
 * memory and its open files; it only gets no more CPU.
 */
final class Freezer {
    private Freezer() {
    }

    /** Freezes or thaws the group of the stage's that the process is in, and waits until the kernel says it is done. */
    static void freeze(int pid, boolean frozen) {
        Path group = groupOf(pid);
        if (group == null) throw new StageFailure("process " + pid + " is in none of the stage's cgroups, or in no freezer (/proc/" + pid + "/cgroup)");
        boolean v2 = Files.exists(group.resolve("cgroup.freeze"));
        write(group.resolve(v2 ? "cgroup.freeze" : "freezer.state"), v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED"));
        String wanted = v2 ? "frozen " + (frozen ? 1 : 0) : (frozen ? "FROZEN" : "THAWED");
        for (int tries = 0; tries < 100; tries++) { // the kernel freezes each task as it next leaves the kernel
            String state = v2 ? read(group.resolve("cgroup.events")) : read(group.resolve("freezer.state"));
            if (state.lines().anyMatch(l -> l.strip().equals(wanted))) {
                narrate("cat " + group.resolve(v2 ? "cgroup.events" : "freezer.state") + ": " + wanted);
                return;
            }
            sleep(50);
        }
        throw new StageFailure("the container's group did not become " + wanted + " within 5 s: " + group);
    }

    /**
     * A frozen process takes no signal, not even v1's SIGKILL, until thawed: whoever ends a
     * container thaws it first (runc does too). Silent, and a no-op unless it is frozen.
     */
    static void thawBeforeSignal(int pid) {
        try {
            Path group = groupOf(pid);
            if (group == null) return;
            if (Files.exists(group.resolve("cgroup.freeze"))) {
                if (read(group.resolve("cgroup.freeze")).strip().equals("1")) Files.writeString(group.resolve("cgroup.freeze"), "0");
            } else if (!read(group.resolve("freezer.state")).strip().equals("THAWED")) {
                Files.writeString(group.resolve("freezer.state"), "THAWED");
            }
        } catch (Exception gone) {
            // the container, or its group, is gone already
        }
    }

    /**
     * The container's freezer: its v2 group, or its group in v1's freezer hierarchy; null if it
     * has none of the stage's. Each line of /proc/PID/cgroup is one hierarchy's group, whatever
     * names the container gives the groups it makes: the kernel refuses a newline in a name.
     */
    static Path groupOf(int pid) {
        for (String line : read(Path.of("/proc/" + pid + "/cgroup")).lines().toList()) {
            String[] fields = line.split(":", 3); // ID:CONTROLLERS:PATH
            if (!fields[2].contains("/" + WORKBOOK_GROUP + "/")) continue; // not one of the stage's groups
            String relative = fields[2].substring(1);
            if (fields[1].isEmpty()) {
                Path v2 = cgroupMounts("cgroup2").get("");
                if (v2 != null && Files.exists(v2.resolve(relative).resolve("cgroup.freeze"))) return v2.resolve(relative);
            } else if (List.of(fields[1].split(",")).contains("freezer")) {
                return cgroupMounts("cgroup").get("freezer").resolve(relative);
            }
        }
        return null;
    }

    // end::freezer[]

    @Command(name = "pause", mixinStandardHelpOptions = true, description = {
        "Freezes every process of a running container, as docker pause does.",
        "PID is the container's init as the host sees it (the stage prints it)."})
    static class Pause implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "PID", description = "Host PID of a process in the container.")
        int pid;

        @Option(names = {"-q", "--quiet"}, description = "Don't narrate.")
        boolean quiet;

        @ParentCommand
        Main stage;

        boolean freezes() {
            return true;
        }

        @Override
        public Integer call() {
            narrating = !(quiet || stage.quiet);
            Exec.requireContainer(pid);
            freeze(pid, freezes());
            return 0;
        }
    }

    @Command(name = "unpause", mixinStandardHelpOptions = true, description = {
        "Thaws a container that pause froze, as docker unpause does.",
        "PID is the container's init as the host sees it (the stage prints it)."})
    static class Unpause extends Pause { // the same PID and options; only the direction differs
        @Override
        boolean freezes() {
            return false;
        }
    }
}
