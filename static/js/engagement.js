// The engagement rate as the API gives it: a fraction, the day's likes + comments + shares divided
// by its followers (snapshots/engagement.py), shown in percent in the reader's locale.
import { formatShare } from "./format.js";

const SMALLEST = 0.01; // percent: anything smaller shows as "<0.01%"

/** 0.0125 → "1.25%" (en) / "1,25 %" (de); null → "—". */
export function formatRate(rate) {
  if (rate === null || rate === undefined) return formatShare(rate);
  const percent = rate * 100;
  return percent > 0 && percent < SMALLEST ? `<${formatShare(SMALLEST)}` : formatShare(percent, { digits: 2 });
}
