package workbook;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** scripts/doctor: every need of every stage, ✓ or ✗ with the fix, and nothing changed on the machine. */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class DoctorTest {
    static final List<String> NEEDS = List.of("root", "java 17 or newer", "jbang", "unshare", "nsenter", "setpriv", "ip",
            "iptables or nft", "uts namespace", "pid namespace", "ipc namespace", "mnt namespace", "net namespace",
            "user namespace", "cgroup namespace", "time namespace", "user namespaces", "cgroup version", "cpu controller",
            "memory controller", "pids controller", "veth and bridge", "busybox rootfs");

    @Test
    void onThisMachineEveryNeedIsMet() {
        Stage.Result r = Host.run("scripts/doctor");

        assertEquals(0, r.exit(), r::toString);
        for (String need : NEEDS) assertTrue(row(r, need).startsWith("✓"), () -> need + ":\n" + r.out());
        assertTrue(r.out().contains("doctor: everything the stages need is here"), r::out);
    }

    @Test
    void aMissingRootfsIsACrossWithTheStagesOwnWordsForTheFix() {
        Stage.Result r = Host.run("scripts/doctor", "--rootfs", "/no/such/rootfs");

        assertEquals(1, r.exit(), r::toString);
        assertEquals("✗ busybox rootfs 01-08 rootfs not found: /no/such/rootfs (run scripts/setup in the workbook, or pass --rootfs DIR)",
                row(r, "busybox rootfs"));
        assertTrue(r.out().contains("doctor: 1 need(s) not met"), r::out);
    }

    @Test
    void anOrdinaryUserLearnsThatStages01To05NeedSudoAndThatStage06Works() {
        Stage.Result r = TestUser.LEARNER.runScript("scripts/doctor");

        assertEquals(1, r.exit(), r::toString);
        assertEquals("✗ root 01-05 you are uid 1000: run stages 01-05 with sudo (and sudo scripts/doctor to check what they need)", row(r, "root"));
        assertTrue(row(r, "user namespaces").startsWith("✓ user namespaces 06 an ordinary user may create them"), r::out);
        assertTrue(row(r, "veth and bridge").startsWith("✓"), r::out);
        assertTrue(row(r, "busybox rootfs").startsWith("✓"), r::out);
    }

    /** The doctor's line for a need, with its columns' padding made single spaces. */
    static String row(Stage.Result r, String need) {
        return r.outLines().stream().map(l -> l.strip().replaceAll("\\s+", " "))
                .filter(l -> l.startsWith("✓ " + need + " ") || l.startsWith("✗ " + need + " ")).findFirst()
                .orElseThrow(() -> new AssertionError("no line for " + need + ":\n" + r.out()));
    }
}
