package workbook;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Figures a test measured, written as an AsciiDoc table to target/measured/NAME.adoc; with
 * -Dtranscripts.update=true also to docs/measured/NAME.adoc, the copy the book shows and the
 * repository keeps. The chapters show what a real run measured, not numbers typed in by hand.
 */
public final class Measured {
    private final String name;
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    public Measured(String name, String... header) {
        this.name = name;
        this.header = List.of(header);
    }

    public synchronized void add(String... row) {
        rows.add(List.of(row));
    }

    /** Writes the table (call it from an @AfterAll); nothing measured, nothing written. */
    public synchronized void write() {
        if (rows.isEmpty()) return;
        StringBuilder table = new StringBuilder("[%header,cols=\"" + "1,".repeat(header.size() - 1) + "1\"]\n|===\n");
        table.append(cells(header)).append('\n');
        rows.forEach(row -> table.append(cells(row)).append('\n'));
        table.append("|===\n");
        try {
            for (String dir : TranscriptTest.UPDATE ? List.of("target/measured", "docs/measured") : List.of("target/measured")) {
                Path file = Stage.WORKBOOK.resolve(dir).resolve(name + ".adoc");
                Files.createDirectories(file.getParent());
                Files.writeString(file, table);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String cells(List<String> cells) {
        return String.join(" ", cells.stream().map(c -> "| " + c).toList());
    }
}
