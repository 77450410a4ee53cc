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
