package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static container.Narration.*;

/** The jail: a directory filled by hand with a program and its libraries, removed after the run. */
final class Jail {
    static final Path DEFAULT_PROGRAM = Path.of("/bin/bash");

    // tag::build-jail[]
    /** A root filesystem by hand: each program in /bin, each library where ldd says it lives. */
    static void fillJail(Path jail, List<String> extraPrograms) throws IOException {
        List<Path> programs = new ArrayList<>(List.of(DEFAULT_PROGRAM));
        for (String name : extraPrograms) programs.add(findOnHost(name));
        for (Path program : programs) {
            copyInto(jail, program, Path.of("/bin").resolve(program.getFileName()));
            for (Path library : librariesOf(program)) copyInto(jail, library, library);
        }
        narrate("built the jail " + jail + ":");
        try (Stream<Path> files = Files.walk(jail)) {
            files.filter(Files::isRegularFile).sorted().forEach(f -> narrate("  " + jail.relativize(f)));
        }
    }

    // lesson::libraries[] Find the libraries a program needs
    //   What: run ldd on the program (run("ldd", ...) gives its lines) and return every path it
    //     names: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
    //   Read: man 1 ldd, man 8 ld.so
    //   Trap: the dynamic loader itself is a library too (the line with no "=>"), and linux-vdso
    //     has no file at all: the kernel maps it into every process.
    /** The shared libraries the dynamic loader will open for a program, as ldd(1) reports them. */
    static List<Path> librariesOf(Path program) throws IOException {
        // A line looks like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file: the kernel maps it.
        // A static program makes ldd say "not a dynamic executable": nothing to copy.
        List<Path> libraries = new ArrayList<>();
        for (String line : run("ldd", program.toString())) {
            for (String word : line.trim().split("\\s+"))
                if (word.startsWith("/")) libraries.add(Path.of(word));
        }
        return libraries;
    }
    // end::build-jail[]

    static Path createJail(Path keptJail) throws IOException {
        if (keptJail == null) return Files.createDirectory(Path.of("/tmp/workbook-jail-" + ProcessHandle.current().pid()));
        if (Files.isDirectory(keptJail) && Files.list(keptJail).findAny().isPresent())
            throw new StageFailure("--jail " + keptJail + " is not empty: give a new directory");
        return Files.createDirectories(keptJail).toAbsolutePath().normalize();
    }

    static Path findOnHost(String name) {
        Path given = Path.of(name);
        if (name.contains("/")) {
            if (Files.isRegularFile(given) && Files.isExecutable(given)) return given;
            throw new StageFailure("no such program on this machine: " + name);
        }
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
        return Arrays.stream(path.split(":")).filter(d -> !d.isEmpty()).map(d -> Path.of(d, name))
                .filter(p -> Files.isRegularFile(p) && Files.isExecutable(p)).findFirst()
                .orElseThrow(() -> new StageFailure("no such program on this machine: " + name + " (not found in PATH)"));
    }

    static void copyInto(Path jail, Path source, Path whereInside) throws IOException {
        Path target = jail.resolve(whereInside.toString().substring(1));
        Files.createDirectories(target.getParent());
        // Follows symlinks: the jail gets the file's content, not a link pointing outside it.
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
    }

    /** A jail whose run was killed stays in /tmp; the next run removes it. */
    static void removeJailsOfDeadRuns() throws IOException {
        try (Stream<Path> entries = Files.list(Path.of("/tmp"))) {
            for (Path dir : entries.filter(p -> p.getFileName().toString().matches("workbook-jail-\\d+")).toList()) {
                long pid = Long.parseLong(dir.getFileName().toString().substring("workbook-jail-".length()));
                if (ProcessHandle.of(pid).isEmpty()) deleteTree(dir);
            }
        }
    }

    static List<String> run(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            List<String> lines = new String(p.getInputStream().readAllBytes()).lines().toList();
            p.waitFor();
            return lines;
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(Jail::deleteQuietly);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // best effort: a file we cannot delete is reported by the next run's cleanup
        }
    }
}
