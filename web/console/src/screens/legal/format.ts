/** Dates as the case's community reads them (its policy's time zone), for display only. */
export function localTime(value: string | null | undefined, timeZone = "Asia/Shanghai"): string {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(d);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
}

/** Today's date in ``timeZone`` (YYYY-MM-DD). */
export function today(timeZone = "Asia/Shanghai"): string {
  return localTime(new Date().toISOString(), timeZone).slice(0, 10);
}

/** A wall-clock time typed in ``timeZone`` ("YYYY-MM-DDTHH:mm", an <input type=datetime-local>)
 * as an RFC 3339 instant with that zone's offset then; "" stays "" (the service's "now"). */
export function zonedInstant(value: string, timeZone = "Asia/Shanghai"): string {
  if (!value) return "";
  const asUtc = new Date(`${value.length === 16 ? `${value}:00` : value}Z`);
  if (Number.isNaN(asUtc.getTime())) return "";
  const wall = new Date(`${localTime(asUtc.toISOString(), timeZone).replace(" ", "T")}:00Z`);
  const offsetMin = Math.round((wall.getTime() - asUtc.getTime()) / 60_000);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${value.slice(0, 16)}:00${sign}${hh}:${mm}`;
}
