package workbook;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Ctrl-C at any moment of a stage's start-up: the terminal sends SIGINT to the whole
 * foreground process group (the stage's JVM, setpriv, unshare, init's JVM, ip and iptables).
 * The test plays that on a group of the stage's own, at several points of its narrated
 * set-up, from its first line to the running command, and NothingLeftBehind checks the host
 * afterwards: no link, address, NAT rule, forwarding, cgroup, mount point or record left.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class InterruptTest {
    /** After this many of the parent's narrated lines; past the release, the command runs. */
    static final List<Integer> POINTS = List.of(1, 3, 6, 10, 16, 24);

    static Stream<Arguments> stagesAndPoints() {
        return BadOptionsTest.ALL.stream().filter(s -> s.compareTo("03") >= 0)
                .flatMap(stage -> POINTS.stream().map(point -> Arguments.of(stage, point)));
    }

    @ParameterizedTest(name = "{0}, after line {1}")
    @MethodSource("stagesAndPoints")
    void anInterruptAtAnyMomentOfTheStartLeavesNothing(String stage, int point) throws Exception {
        // SIGINT as the terminal has it: not ignored (a background job's would be), and a group
        // of its own, so that the test's JVM is not in it.
        try (NetworkLab lab = NetworkLab.create();
             Stage.Running run = lab.stage(Stage.of(stage).mergeOutput()).alsoWrappedIn("env", "--default-signal=INT", "setsid")
                     .start("--", "/bin/sleep", "600")) {
            Instant limit = Instant.now().plusSeconds(60);
            while (parentLines(run.output()) < point && !run.output().contains("\"go\", 1) = 1") && run.process().isAlive()) {
                assertTrue(Instant.now().isBefore(limit), run::output);
                Thread.sleep(5);
            }
            Host.run("kill", "-INT", "--", "-" + run.pid());
            Stage.Result r = run.finish(Duration.ofSeconds(30));
            assertTrue(r.exit() == 130 || r.exit() == 128 + 9, r::toString); // set-up stopped, or the command ended
            assertFalse(r.out().contains("Exception"), r::toString);
        }
    }

    /**
     * Without the defence (a copy of stage 05 that leaves the signals to the JVM), Ctrl-C after
     * the bridge is up leaves the bridge, the NAT rule and the forwarding behind. The next run
     * of the stage undoes what the crashed one left, so that the test leaves nothing either.
     */
    @Test
    void withoutTheDefenceAnInterruptLeavesTheBridge(@TempDir Path copies) throws Exception {
        Path copy = copies.resolve("05-veth-bridge");
        HostileCommandTest.copyStage("05-veth-bridge", copy);
        HostileCommandTest.remove(copy.resolve("Main.java"), "takeSignals();");
        try (NetworkLab lab = NetworkLab.create()) {
            System.setProperty("workbook.stage.05-veth-bridge", copy.toString());
            try (Stage.Running run = lab.stage(Stage.of("05-veth-bridge").mergeOutput()).alsoWrappedIn("env", "--default-signal=INT", "setsid")
                    .start("--", "/bin/sleep", "600")) {
                run.awaitOutput("iptables -t nat -A POSTROUTING", Duration.ofSeconds(60));
                Host.run("kill", "-INT", "--", "-" + run.pid());
                assertEquals(130, run.finish(Duration.ofSeconds(30)).exit());
            } finally {
                System.clearProperty("workbook.stage.05-veth-bridge");
            }
            assertEquals(0, lab.onHost("ip", "link", "show", "wb0").exit(), "the bridge is still there");
            assertEquals("1", lab.onHost("cat", "/proc/sys/net/ipv4/ip_forward").out().strip());
            Stage.Result next = lab.stage(Stage.of("05-veth-bridge")).run("--quiet", "--", "/bin/true");
            assertEquals(0, next.exit(), next::toString);
            assertNotEquals(0, lab.onHost("ip", "link", "show", "wb0").exit(), "the next run undid it");
        }
    }

    static long parentLines(String output) {
        return output.lines().filter(l -> l.startsWith("[parent]")).count();
    }
}
