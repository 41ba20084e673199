/**
 * A registration link's QR code (qrcode-generator encodes it; error correction level M, a quiet
 * zone of four modules), drawn as a standalone SVG for a page or a file, or as text for a
 * terminal (two module rows per line with half blocks).
 *
 * @module
 */
import qrcode from 'qrcode-generator';

const QUIET = 4;

function modules(text: string): { n: number; dark: (row: number, col: number) => boolean } {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  return { n, dark: (row, col) => row >= 0 && col >= 0 && row < n && col < n && qr.isDark(row, col) };
}

/** The QR code of `text` as an SVG document (black on white), with a title for screen readers. */
export function qrCodeSvg(text: string, title = 'QR code'): string {
  const { n, dark } = modules(text);
  const size = n + 2 * QUIET;
  let path = '';
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) if (dark(row, col)) path += `M${col + QUIET} ${row + QUIET}h1v1h-1z`;
  }
  const escaped = title.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${size * 6}" height="${size * 6}" shape-rendering="crispEdges" role="img">` +
    `<title>${escaped}</title><rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${path}"/></svg>`
  );
}

/** The QR code of `text` for a terminal: dark modules as ink on a light background (scan it from the screen). */
export function qrCodeText(text: string): string {
  const { n, dark } = modules(text);
  const lines: string[] = [];
  // Light is drawn, dark is left blank: terminals are mostly light text on a dark background.
  for (let row = -QUIET; row < n + QUIET; row += 2) {
    let line = '';
    for (let col = -QUIET; col < n + QUIET; col++) {
      const top = !dark(row, col);
      const bottom = !dark(row + 1, col);
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(line);
  }
  return lines.join('\n');
}
