package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static container.Narration.*;

/** Narrated file helpers: cgroupfs, /proc and /sys are files, and this is how the stage reads and writes them. */
final class KernelFiles {

    static void mkdir(Path dir) {
        if (Files.isDirectory(dir)) return;
        narrate("mkdir " + dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StageFailure("mkdir " + dir + " failed: " + e.getMessage());
        }
    }

    static void write(Path file, String value) {
        narrate("echo " + value + " > " + file);
        try {
            Files.writeString(file, value);
        } catch (IOException e) {
            throw new StageFailure("cannot write \"" + value + "\" to " + file + ": " + e.getMessage());
        }
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
