package container;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

// tag::tar[]
/**
 * The tar format a layer is written in (POSIX ustar): each entry is a 512-byte header of
 * fixed fields, numbers in octal ASCII, then the file's bytes padded to 512; two empty blocks
 * end the archive. A layer holds only what tar can say: files, directories, links, and the
 * names of what it deletes (whiteouts: see Layers).
 */
final class Tar {
    static final int BLOCK = 512;
    static final char FILE = '0', HARD_LINK = '1', SYMLINK = '2', DIRECTORY = '5';

    /** One header: the name is relative to the layer's root, without a leading "./". */
    record Entry(String name, char type, int mode, int uid, int gid, long size, long mtime, String link) {
    }

    static void write(OutputStream out, Entry entry) throws IOException {
        byte[] header = new byte[BLOCK];
        String name = entry.name(), prefix = "";
        if (name.length() > 100) { // ustar splits a long name at a '/': prefix (155) + name (100)
            int cut = name.lastIndexOf('/', 155);
            if (cut < 0 || name.length() - cut - 1 > 100) throw new IOException("name too long for a ustar header: " + name);
            prefix = name.substring(0, cut);
            name = name.substring(cut + 1);
        }
        put(header, 0, 100, name);
        octal(header, 100, 8, entry.mode());
        octal(header, 108, 8, entry.uid());
        octal(header, 116, 8, entry.gid());
        octal(header, 124, 12, entry.size());
        octal(header, 136, 12, entry.mtime());
        header[156] = (byte) entry.type();
        put(header, 157, 100, entry.link());
        put(header, 257, 8, "ustar\0" + "00");
        put(header, 345, 155, prefix);
        Arrays.fill(header, 148, 156, (byte) ' '); // the checksum counts its own field as spaces
        int sum = 0;
        for (byte b : header) sum += b & 0xff;
        put(header, 148, 8, String.format("%06o", sum) + "\0 ");
        out.write(header);
    }

    /** After a file's bytes: zeros up to the next block. */
    static void pad(OutputStream out, long size) throws IOException {
        out.write(new byte[(int) ((BLOCK - size % BLOCK) % BLOCK)]);
    }

    static void end(OutputStream out) throws IOException {
        out.write(new byte[2 * BLOCK]);
    }

    /** The next entry's header, or null at the end; the caller then reads (or skips) exactly its size, and the padding. */
    static Entry next(InputStream in) throws IOException {
        byte[] header = in.readNBytes(BLOCK);
        if (header.length < BLOCK) throw new EOFException("the archive ends inside a header");
        if (isZero(header)) return null;
        String name = text(header, 0, 100), prefix = text(header, 345, 155);
        if (!prefix.isEmpty()) name = prefix + "/" + name;
        if (name.startsWith("./")) name = name.substring(2);
        if (name.endsWith("/")) name = name.substring(0, name.length() - 1);
        char type = header[156] == 0 ? FILE : (char) header[156];
        return new Entry(name, type, (int) number(header, 100, 8), (int) number(header, 108, 8), (int) number(header, 116, 8),
                number(header, 124, 12), number(header, 136, 12), text(header, 157, 100));
    }

    /** Read, not skipped: skip() would go around a DigestInputStream, and the padding counts in a layer's digest. */
    static void skipPadding(InputStream in, long size) throws IOException {
        in.readNBytes((int) ((BLOCK - size % BLOCK) % BLOCK));
    }

    private static void put(byte[] header, int at, int length, String value) throws IOException {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > length) throw new IOException("does not fit a ustar field of " + length + " bytes: " + value);
        System.arraycopy(bytes, 0, header, at, bytes.length);
    }

    private static void octal(byte[] header, int at, int length, long value) throws IOException {
        put(header, at, length, String.format("%0" + (length - 1) + "o", value));
    }

    private static String text(byte[] header, int at, int length) {
        int end = at;
        while (end < at + length && header[end] != 0) end++;
        return new String(header, at, end - at, StandardCharsets.UTF_8);
    }

    private static long number(byte[] header, int at, int length) {
        String digits = text(header, at, length).trim();
        return digits.isEmpty() ? 0 : Long.parseLong(digits, 8);
    }

    private static boolean isZero(byte[] block) {
        for (byte b : block) if (b != 0) return false;
        return true;
    }
}
// end::tar[]
