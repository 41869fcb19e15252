package workbook;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A small network made of namespaces the test creates, so that stage 05 never touches the
 * machine's real interfaces, routes or firewall: "host" plays the machine the stage runs on,
 * "outside" plays the world beyond it, and a veth pair, created directly inside the two
 * namespaces, joins them. Only TEST-NET-2 addresses (198.51.100.0/24, RFC 5737) are used.
 * The namespaces are named by the PID of the JVM that made them: a lab still open when that JVM
 * ends (Maven stopped with SIGTERM or Ctrl-C, mid-test) is closed on its way out, and what a
 * JVM killed outright leaves, scripts/reset removes once the PID is gone.
 */
public final class NetworkLab implements AutoCloseable {
    public static final String HOST_ADDRESS = "198.51.100.1", OUTSIDE_ADDRESS = "198.51.100.2";
    private final String host, outside;
    private static final Set<NetworkLab> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(NetworkLab::close)));
    }

    private NetworkLab(String prefix) {
        this.host = prefix + "-host";
        this.outside = prefix + "-outside";
    }

    public static NetworkLab create() {
        NetworkLab lab = new NetworkLab("wbtest-" + ProcessHandle.current().pid());
        OPEN.add(lab);
        try {
            lab.must("ip", "netns", "add", lab.host);
            lab.must("ip", "netns", "add", lab.outside);
            lab.must("ip", "-n", lab.host, "link", "add", "lab0", "type", "veth", "peer", "name", "lab0", "netns", lab.outside);
            for (String[] side : new String[][]{{lab.host, HOST_ADDRESS}, {lab.outside, OUTSIDE_ADDRESS}}) {
                lab.must("ip", "-n", side[0], "addr", "add", side[1] + "/24", "dev", "lab0");
                lab.must("ip", "-n", side[0], "link", "set", "lab0", "up");
                lab.must("ip", "-n", side[0], "link", "set", "lo", "up");
            }
            lab.must("ip", "-n", lab.host, "route", "add", "default", "via", OUTSIDE_ADDRESS);
            return lab;
        } catch (RuntimeException e) {
            lab.close();
            throw e;
        }
    }

    /** A stage run inside the lab's host namespace (nsenter, not ip netns exec: that remounts /sys and hides the cgroups). */
    public Stage stage(Stage stage) {
        return stage.wrappedIn("nsenter", "--net=/run/netns/" + host);
    }

    /** Runs a command in the lab's host namespace. */
    public Stage.Result onHost(String... command) {
        return in(host, command);
    }

    /** Starts a listener in the outside namespace that prints the address of the first peer. */
    public Stage.Running listenOutside(int port) {
        List<String> command = List.of("nsenter", "--net=/run/netns/" + outside, "java",
                Stage.WORKBOOK.resolve("src/test/resources/PeerAddress.java").toString(), Integer.toString(port));
        try {
            return new Stage.Running(new ProcessBuilder(command).start(), false);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private Stage.Result in(String netns, String... command) {
        List<String> full = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + netns));
        full.addAll(List.of(command));
        return Host.run(Stage.WORKBOOK, Duration.ofSeconds(30), full);
    }

    private void must(String... command) {
        Stage.Result r = Host.run(command);
        if (r.exit() != 0) throw new IllegalStateException(String.join(" ", command) + " failed:\n" + r);
    }

    @Override
    public void close() {
        OPEN.remove(this);
        Host.run("ip", "netns", "del", outside);
        Host.run("ip", "netns", "del", host);
    }
}
