package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static container.Narration.*;

/** The command a run started, written down so that the next run can stop it if this one is killed. */
final class CrashRecord {

    // tag::crash-record[]
    /**
     * The chrooted command is an ordinary process of the host. If the stage is killed with
     * SIGKILL (which runs no cleanup), the command lives on: there is no PID namespace whose end
     * would take it along (that comes in stage 02), and posix_spawn cannot arm a parent-death
     * signal in the child. So the stage writes the command's PID and start time down in
     * /run/workbook/01-chroot.PID, and the next run (or scripts/reset) stops a recorded command
     * whose stage is gone. The start time tells it from a new process that got the same PID.
     * (The record follows the spawn by a few milliseconds: a stage killed within them leaves
     * its command unrecorded.)
     */
    static final Path RECORDS = Path.of("/run/workbook");

    static Path recordCommand(long pid) throws IOException {
        Files.createDirectories(RECORDS);
        return Files.writeString(RECORDS.resolve(NAME + "." + ProcessHandle.current().pid()), "process " + pid + " " + startTime(pid) + "\n");
    }

    static void stopCommandsOfCrashedRuns() throws IOException {
        if (!Files.isDirectory(RECORDS)) return;
        try (Stream<Path> records = Files.list(RECORDS)) {
            for (Path record : records.filter(r -> r.getFileName().toString().matches(NAME + "\\.\\d+")).toList()) {
                long stage = Long.parseLong(record.getFileName().toString().substring(NAME.length() + 1));
                if (ProcessHandle.of(stage).isPresent()) continue; // a run still going
                String[] words = Files.readString(record).trim().split(" "); // process PID START
                long pid = Long.parseLong(words[1]);
                if (startTime(pid).equals(words[2])) {
                    narrate("stopping process " + pid + ", which a killed run (pid " + stage + ") left running");
                    ProcessHandle.of(pid).ifPresent(command -> {
                        command.descendants().forEach(ProcessHandle::destroyForcibly);
                        command.destroyForcibly();
                    });
                }
                Files.delete(record);
            }
        }
    }

    /** Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot ("" if it is gone). */
    static String startTime(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19];
        } catch (IOException gone) {
            return "";
        }
    }
    // end::crash-record[]
}
