package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/**
 * scripts/reset, against leftovers this test plants itself, of every kind a crashed stage can
 * leave, next to look-alikes that are not the workbook's (or belong to a run still going),
 * which must stay. The network part runs in a NetworkLab, never on the machine's own network.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class ResetTest {
    static final String DEAD = "999999999"; // above any pid_max: no such process
    static final String ALIVE = Long.toString(ProcessHandle.current().pid());

    @TempDir
    Path tmp;

    @Test
    void resetRemovesWhatCrashedRunsLeftAndNothingElse() throws Exception {
        Path cgroups = cpuHierarchy();
        Path crashedGroup = cgroups.resolve("workbook/04-cgroup-cpu-" + DEAD), runningGroup = cgroups.resolve("workbook/04-cgroup-cpu-" + ALIVE);
        Path otherGroup = cgroups.resolve("reset-test-not-the-workbooks");
        Path crashedPoint = Stage.ROOTFS.resolve("reset-test-crashed"), runningPoint = Stage.ROOTFS.resolve("reset-test-running");
        Path crashedRecord = Path.of("/run/workbook/03-mount-bind." + DEAD), runningRecord = Path.of("/run/workbook/03-mount-bind." + ALIVE);
        Path rootlessRecord = Path.of("/tmp/workbook-runs-1000/06-user-ns." + DEAD);
        Path jail = Path.of("/tmp/workbook-jail-" + DEAD), otherMount = Files.createDirectory(tmp.resolve("not-the-workbooks"));
        List<Path> planted = new ArrayList<>(List.of(crashedGroup, runningGroup, otherGroup, crashedPoint, runningPoint, jail));
        try (NetworkLab lab = NetworkLab.create()) {
            // cgroups, mount points in the rootfs, and the records that list them
            for (Path dir : planted) Files.createDirectories(dir);
            Files.write(crashedRecord, List.of(crashedPoint.toString(), crashedGroup.toString()));
            Files.write(runningRecord, List.of(runningPoint.toString()));
            Files.createDirectories(rootlessRecord.getParent());
            Files.write(rootlessRecord, List.of());
            // mounts: on a stage 01 jail, and one that is not the workbook's
            must(Host.run("mount", "-t", "tmpfs", "reset-test", jail.toString()));
            must(Host.run("mount", "-t", "tmpfs", "reset-test", otherMount.toString()));
            // the network of a crashed stage 05 in the lab's "host", and things of someone else's
            String netns = lab.onHost("readlink", "/proc/self/ns/net").out().replaceAll("\\D", "");
            Path state = Path.of("/run/workbook/05-veth-bridge.net" + netns + ".host");
            Files.write(state, List.of("gateway=10.213.0.1/24", "firewall=iptables", "forwardingWas=0"));
            for (String command : List.of("ip link add wb0 type bridge", "ip addr add 10.213.0.1/24 dev wb0",
                    "ip link add wb-" + DEAD + " type veth peer name wbc-" + DEAD, "ip link add br-keep type bridge",
                    "iptables -t nat -A POSTROUTING -s 10.213.0.0/24 ! -o wb0 -j MASQUERADE",
                    "iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -o lab0 -j MASQUERADE"))
                must(lab.onHost(command.split(" ")));
            must(lab.onHost("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"));

            Stage.Result r = lab.onHost("scripts/reset");

            assertEquals(0, r.exit(), r::toString);
            for (Path gone : List.of(crashedGroup, crashedPoint, crashedRecord, rootlessRecord, rootlessRecord.getParent(), jail, state))
                assertFalse(Files.exists(gone), () -> gone + " is still there:\n" + r);
            for (Path kept : List.of(runningGroup, otherGroup, runningPoint, runningRecord))
                assertTrue(Files.exists(kept), () -> kept + " was removed:\n" + r);
            assertTrue(Host.mountinfo().stream().anyMatch(l -> l.split(" ")[4].equals(otherMount.toString())), r::toString);
            assertEquals("", lab.onHost("ip", "-o", "link", "show", "wb0").out());
            assertEquals("", lab.onHost("sh", "-c", "ip -o link show | grep wb-; true").out());
            assertTrue(lab.onHost("ip", "-o", "link", "show", "br-keep").out().contains("br-keep"));
            String nat = lab.onHost("iptables", "-t", "nat", "-S", "POSTROUTING").out();
            assertFalse(nat.contains("! -o wb0 -j MASQUERADE"), nat);
            assertTrue(nat.contains("-s 192.0.2.0/24 -o lab0 -j MASQUERADE"), nat);
            assertEquals("0", lab.onHost("cat", "/proc/sys/net/ipv4/ip_forward").out().strip(), "forwarding as the stage found it");
            for (String said : List.of("removed " + crashedGroup, "removed " + crashedPoint, "unmounted " + jail, "deleted the bridge wb0",
                    "deleted the link wb-" + DEAD, "set net.ipv4.ip_forward back to 0", "leaving what the running stage " + ALIVE + " holds"))
                assertTrue(r.out().contains(said), () -> "reset says \"" + said + "\":\n" + r.out());

            Stage.Result again = lab.onHost("scripts/reset");
            assertTrue(again.out().contains("reset: nothing to remove"), again::toString);
        } finally {
            Host.run("umount", jail.toString());
            Host.run("umount", otherMount.toString());
            Files.deleteIfExists(runningRecord);
            for (Path dir : List.of(runningGroup, otherGroup, cgroups.resolve("workbook"), runningPoint, crashedPoint, crashedGroup, jail))
                Host.run("rmdir", dir.toString());
        }
    }

    /** What reset finds of the tests' own: a lab of a test JVM killed outright, vm-test's cpu group of a killed run. */
    @Test
    void resetRemovesTheLabOfAKilledTestAndTheGroupOfAKilledVmTest() throws Exception {
        Path cgroups = cpuHierarchy();
        Path deadGroup = cgroups.resolve("workbook-vm-test." + DEAD), liveGroup = cgroups.resolve("workbook-vm-test." + ALIVE);
        Process killed = NetworkLabTest.aJvmHoldingALab();
        try (NetworkLab ours = NetworkLab.create()) {
            Files.createDirectory(deadGroup);
            Files.createDirectory(liveGroup);
            killed.destroyForcibly().waitFor(); // SIGKILL: its lab stays
            assertEquals(2, NetworkLabTest.namespacesOf(killed.pid()).size());

            Stage.Result r = ours.onHost("scripts/reset"); // its network part in the lab, never on the machine's
            assertEquals(0, r.exit(), r::toString);
            assertEquals(List.of(), NetworkLabTest.namespacesOf(killed.pid()), r::toString);
            assertTrue(r.out().contains("deleted the network namespace wbtest-" + killed.pid() + "-host"), r::toString);
            assertEquals(2, NetworkLabTest.namespacesOf(ProcessHandle.current().pid()).size(), "a running test's lab stays");
            assertFalse(Files.exists(deadGroup), r::toString);
            assertTrue(Files.exists(liveGroup), "the group of a vm-test still running stays");
        } finally {
            for (String ns : NetworkLabTest.namespacesOf(killed.pid())) Host.run("ip", "netns", "del", ns);
            Host.run("rmdir", deadGroup.toString());
            Host.run("rmdir", liveGroup.toString());
        }
    }

    @Test
    void anOrdinaryUserIsToldToUseSudo() {
        Stage.Result r = TestUser.LEARNER.runScript("scripts/reset");
        assertEquals(1, r.exit(), r::toString);
        assertEquals("reset: removes cgroups, links and firewall rules, which takes root: run it with sudo\n", r.err());
    }

    /** Where the cpu controller's hierarchy is: cgroup v2's one tree, or v1's cpu tree. */
    static Path cpuHierarchy() {
        for (String line : Host.mountinfo()) {
            String[] halves = line.split(" - "), mount = halves[0].split(" "), source = halves[1].split(" ");
            Path point = Path.of(mount[4]);
            if (source[0].equals("cgroup2") && Host.read(point.resolve("cgroup.controllers")).contains("cpu")) return point;
            if (source[0].equals("cgroup") && List.of(source[2].split(",")).contains("cpu")) return point;
        }
        throw new AssertionError("no cgroup hierarchy has the cpu controller");
    }

    static void must(Stage.Result r) {
        assertEquals(0, r.exit(), r::toString);
    }
}
