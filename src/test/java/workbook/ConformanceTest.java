package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * scripts/conformance, the OCI's own suite for runtimes, run here against runc and against
 * stage 09 side by side, in one run: the programs really drive both (each passes hostname and
 * state whole, as by hand), the table says what the programs printed (counted again here from
 * their TAP), stage 09 passes at least as many programs whole as runc, and nothing of the
 * suite's bundles, mounts, cgroups or containers stays behind. The suite's source is where the
 * environment's RUNTIME_TOOLS says (CI sets it; a learner passes their clone to the script).
 * The whole suite, both runtimes, is for the book's table: `scripts/conformance --out`.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class ConformanceTest {
    static final List<String> PROGRAMS = List.of("hostname", "state", "kill", "create", "delete_resources", "linux_uid_mappings",
            "linux_seccomp", "linux_cgroups_pids", "hooks_stdin", "process_user");

    @Test
    void theSuiteScoresStage09BesideRuncProgramByProgramAndLeavesNothing(@TempDir Path logs) throws IOException {
        String source = System.getenv().getOrDefault("RUNTIME_TOOLS", "");
        assumeTrue(!source.isEmpty(), "RUNTIME_TOOLS names no runtime-tools source");
        if (!Files.isExecutable(Path.of("/usr/sbin/runc")))
            assertEquals(0, Host.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "runc").exit());
        String ours = Stage.folderOf(OciRuntimeStageTest.NAME).resolve("runtime").toString();

        Stage.Result r = Host.run(Stage.WORKBOOK, Duration.ofMinutes(30), List.of("scripts/conformance", "--source", source,
                "--only", String.join(",", PROGRAMS), "--logs", logs.toString(), "/usr/sbin/runc", ours));
        assertEquals(0, r.exit(), r::toString);

        int[] passed = new int[2];
        for (String program : PROGRAMS) {
            String row = r.out().lines().filter(l -> l.startsWith(program + " ")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
            String[] cells = row.split("\\|");
            for (int runtime = 0; runtime < 2; runtime++) {
                List<String> tap = Files.readAllLines(logs.resolve(program + "." + runtime + ".tap"));
                long ok = tap.stream().filter(l -> l.matches("ok \\d+.*") && !l.toLowerCase().contains("# skip")).count();
                long skipped = tap.stream().filter(l -> l.matches("ok \\d+.*") && l.toLowerCase().contains("# skip")).count();
                long notOk = tap.stream().filter(l -> l.matches("not ok \\d+.*")).count();
                String cell = cells[runtime + 1].strip();
                assertTrue(cell.matches(ok + " / " + notOk + " / " + skipped + " (pass|FAIL|ERROR|none)"), () -> row + "\n" + tap);
                if (cell.endsWith(" pass")) passed[runtime]++;
            }
        }
        for (String program : List.of("hostname", "state"))
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(program + " ") && l.split("\\|")[1].contains(" pass") && l.split("\\|")[2].contains(" pass")), r::out);
        assertTrue(r.out().lines().anyMatch(l -> l.matches("passed whole \\(of " + PROGRAMS.size() + "\\)\\s*\\| " + passed[0] + "\\s*\\| " + passed[1] + "\\s*")), r::out);
        assertTrue(passed[1] >= passed[0], () -> "stage 09 passes " + passed[1] + " programs whole, runc " + passed[0] + ":\n" + r.out());
    }
}
