package container;

import java.io.IOException;
import java.util.List;

import static container.Narration.*;

/** The host commands the network is wired with (ip, iptables, nft, nsenter), run as a learner would type them. */
final class Shell {

    /** Runs a host command (ip, iptables, nft, nsenter), narrated as typed, so you can replay it by hand. */
    static String sh(String... command) {
        narrate(String.join(" ", command));
        return shQuiet(command);
    }

    static String shQuiet(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) throw new StageFailure(String.join(" ", command) + " failed: " + out.strip());
            return out;
        } catch (IOException e) {
            throw new StageFailure("cannot run " + command[0] + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StageFailure("interrupted");
        }
    }

    /** Runs the command only if the check command succeeds (the thing is there to remove). */
    static void shIfPresent(List<String> check, String... command) {
        if (commandExists(check.toArray(String[]::new))) sh(command);
    }

    static boolean commandExists(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
