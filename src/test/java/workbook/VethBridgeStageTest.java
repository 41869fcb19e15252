package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

/** Every test runs the stage in a NetworkLab: namespaces the test makes, never the machine's own network. */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class VethBridgeStageTest {
    static final Stage STAGE = Stage.of("05-veth-bridge");
    static final Duration START = Duration.ofSeconds(60);
    static final String SLEEP = "echo ready; exec sleep 600";

    @TempDir
    Path tmp;

    @Test
    @Lesson("connect")
    @DisplayName("containers on the bridge reach each other, the gateway and the host")
    void containersOnTheBridgeReachEachOtherTheGatewayAndTheHost() {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage stage = lab.stage(STAGE);
            String forwardingBefore = lab.onHost("cat", "/proc/sys/net/ipv4/ip_forward").out().strip();
            try (Stage.Running a = stage.start("--ip", "10.213.0.10/24", "--", "/bin/sh", "-c", SLEEP);
                 Stage.Running b = stage.start("--ip", "10.213.0.11/24", "--", "/bin/sh", "-c", SLEEP)) {
                a.awaitOutput("ready", START);
                b.awaitOutput("ready", START);
                long initA = a.child(START), initB = b.child(START);

                // The host ends of both pairs are on the bridge.
                String onBridge = lab.onHost("ip", "-o", "link", "show", "master", "wb0").out();
                assertTrue(onBridge.contains("wb-" + initA + "@") && onBridge.contains("wb-" + initB + "@"), onBridge);

                // B pings A, each pings the gateway (with the container's own ping), the host pings both.
                assertPings(stage, initB, "10.213.0.10");
                assertPings(stage, initA, "10.213.0.1");
                assertPings(stage, initB, "10.213.0.1");
                for (String address : List.of("10.213.0.10", "10.213.0.11"))
                    assertEquals(0, lab.onHost("ping", "-c", "1", "-W", "2", address).exit(), "the host pings " + address);

                assertEquals(128 + 9, a.end().exit());
                assertEquals(128 + 9, b.end().exit());
            }
            // The last container out put the host back.
            assertEquals("", lab.onHost("ip", "-o", "link", "show", "type", "bridge").out());
            assertEquals("", lab.onHost("ip", "-o", "link", "show", "type", "veth").out().lines()
                    .filter(l -> l.contains("wb-")).reduce("", String::concat));
            assertFalse(lab.onHost("iptables", "-t", "nat", "-S").out().contains("MASQUERADE"));
            assertEquals(forwardingBefore, lab.onHost("cat", "/proc/sys/net/ipv4/ip_forward").out().strip());
        }
    }

    @Test
    @Lesson("nat")
    @DisplayName("through NAT, the outside sees the host's address")
    void throughNatTheOutsideSeesTheHostsAddress() {
        try (NetworkLab lab = NetworkLab.create(); Stage.Running listener = lab.listenOutside(7777)) {
            listener.awaitOutput("listening", START);

            Stage.Result r = lab.stage(STAGE).run("-q", "--", "/bin/sh", "-c", "echo hello | nc -w 5 " + NetworkLab.OUTSIDE_ADDRESS + " 7777");

            assertEquals(0, r.exit(), r::toString);
            Stage.Result heard = listener.finish(Duration.ofSeconds(30));
            assertTrue(heard.out().contains("peer " + NetworkLab.HOST_ADDRESS), heard::toString);
            assertTrue(heard.out().contains("said hello"), heard::toString);
        }
    }

    @Test
    @Lesson("connect")
    @DisplayName("inside, eth0 has the address and the default route goes via the gateway")
    void withoutIpTheStagePicksAFreeAddressAndPrintsTheTopology() {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage.Result r = lab.stage(STAGE).run("--", "/bin/sh", "-c", "ip -o -4 addr show eth0; ip route");
            assertEquals(0, r.exit(), r::toString);
            assertTrue(r.out().contains("inet 10.213.0.2/24"), r::toString);
            assertTrue(r.out().contains("default via 10.213.0.1 dev eth0"), r::toString);
            assertTrue(r.err().matches("(?s).*topology: container eth0@if\\d+ 10\\.213\\.0\\.2/24 .*wb-\\d+ \\(ifindex \\d+\\) on wb0.*"), r::toString);
        }
    }

    @Test
    void badAddressesAreClearErrorsAndLeaveNothing() {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage stage = lab.stage(STAGE);
            for (String bad : List.of("10.213.0/24", "10.213.0.300/24", "10.213.0.5", "10.213.0.5/33", "10.213.0.0/24"))
                assertStageFailed(stage.run("--ip", bad, "--", "/bin/true"), "05-veth-bridge", "expected a host address and a prefix length");
            try (Stage.Running a = stage.start("--ip", "10.213.0.10/24", "--", "/bin/sh", "-c", SLEEP)) {
                a.awaitOutput("ready", START);
                assertStageFailed(stage.run("--ip", "192.168.77.5/24", "--", "/bin/true"), "05-veth-bridge", "outside the bridge's subnet");
                assertStageFailed(stage.run("--ip", "10.213.0.10/24", "--", "/bin/true"), "05-veth-bridge", "already in use");
                assertStageFailed(stage.run("--ip", "10.213.0.1/24", "--", "/bin/true"), "05-veth-bridge", "already in use");
                a.end();
            }
            assertEquals("", lab.onHost("ip", "-o", "link", "show", "type", "bridge").out());
        }
    }

    @Test
    void withoutTheIpCommandTheStageSaysWhatToInstall() throws Exception {
        // A PATH with java and bash (for jbang) but no ip.
        Path bin = Files.createDirectory(tmp.resolve("bin"));
        for (String tool : List.of("java", "bash", "jbang")) {
            String real = Host.run("sh", "-c", "readlink -f $(command -v " + tool + ")").out().strip();
            Path wrapper = Files.writeString(bin.resolve(tool), "#!/bin/sh\nexec " + real + " \"$@\"\n");
            wrapper.toFile().setExecutable(true);
        }
        Stage.Result r = STAGE.env("PATH", bin.toString()).run("--", "/bin/true");
        assertStageFailed(r, "05-veth-bridge", "no ip command: install iproute2");
    }

    static void assertPings(Stage stage, long container, String address) {
        Stage.Result r = stage.run("exec", "-q", Long.toString(container), "--", "/bin/ping", "-c", "1", "-W", "2", address);
        assertEquals(0, r.exit(), () -> "container " + container + " pings " + address + ":\n" + r);
    }
}
