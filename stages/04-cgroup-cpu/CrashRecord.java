package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static container.Narration.*;
import static container.Volume.*;

/** What a run made on the host, written down so that the next run can remove it if this one is killed. */
final class CrashRecord {

    // tag::crash-record[]
    /**
     * A parent killed with SIGKILL cleans nothing up (its container dies with it). So it writes
     * down what it made on the host, in /run/workbook/STAGE.PID, and the next run of the stage
     * undoes what runs whose PID is gone left behind. (/run is emptied at every boot.)
     */
    static final Path RECORDS = Path.of("/run/workbook");

    static Path recordMadeOnHost(List<Path> made) throws IOException {
        Files.createDirectories(RECORDS);
        return Files.write(RECORDS.resolve(NAME + "." + ProcessHandle.current().pid()), made.stream().map(Path::toString).toList());
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
