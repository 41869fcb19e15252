package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static container.Narration.*;
import static container.Volume.*;

/** What a run made on the host, written down so that the next run can undo it after a crash. */
final class CrashRecord {

    // tag::crash-record[]
    /**
     * A parent killed with SIGKILL cleans nothing up (its container dies with it). So it writes
     * down what it made on the host, in /run/workbook/STAGE.PID, and the next run of the stage
     * undoes what runs whose PID is gone left behind. (/run is emptied at every boot.) An
     * ordinary user, who may not write there, keeps them in /tmp/workbook-runs-UID.
     */
    static final int UID = ownerOf(Path.of("/proc/self")); // whoever runs this process owns its /proc entry
    static final Path RECORDS = Path.of(UID == 0 ? "/run/workbook" : "/tmp/workbook-runs-" + UID);

    static Path recordMadeOnHost(List<Path> made) throws IOException {
        Files.createDirectories(RECORDS);
        return Files.write(RECORDS.resolve(NAME + "." + ProcessHandle.current().pid()), made.stream().map(Path::toString).toList());
    }

    static int ownerOf(Path file) {
        try {
            return (int) Files.getAttribute(file, "unix:uid");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void forget(Path record) throws IOException {
        Files.deleteIfExists(record);
        if (UID != 0) {
            try {
                Files.deleteIfExists(RECORDS);
            } catch (DirectoryNotEmptyException anotherRun) {
                // another container of this user still runs
            }
        }
    }

    static void undoCrashedRuns() throws IOException {
        if (!Files.isDirectory(RECORDS)) return;
        try (Stream<Path> records = Files.list(RECORDS)) {
            for (Path record : records.filter(r -> r.getFileName().toString().matches(NAME + "\\.\\d+")).toList()) {
                long pid = Long.parseLong(record.getFileName().toString().substring(NAME.length() + 1));
                if (ProcessHandle.of(pid).isPresent()) continue; // a run still going
                List<Path> made = Files.readAllLines(record).stream().map(Path::of).toList();
                narrate("undoing a crashed run (pid " + pid + "): removing " + made);
                removeFromHost(made);
                Files.delete(record);
            }
        }
    }
    // end::crash-record[]
}
