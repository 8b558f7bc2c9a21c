using System.Globalization;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>Python's <c>datetime.strftime</c> for the directives chat templates use (C locale names).</summary>
internal static class PyStrftime
{
    public static string Format(DateTime t, string format)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                sb.Append(c);
                continue;
            }
            var d = format[++i];
            sb.Append(d switch
            {
                'd' => t.Day.ToString("00", ci),
                'm' => t.Month.ToString("00", ci),
                'Y' => t.Year.ToString("0000", ci),
                'y' => (t.Year % 100).ToString("00", ci),
                'b' => ci.DateTimeFormat.GetAbbreviatedMonthName(t.Month),
                'B' => ci.DateTimeFormat.GetMonthName(t.Month),
                'a' => ci.DateTimeFormat.GetAbbreviatedDayName(t.DayOfWeek),
                'A' => ci.DateTimeFormat.GetDayName(t.DayOfWeek),
                'H' => t.Hour.ToString("00", ci),
                'I' => ((t.Hour + 11) % 12 + 1).ToString("00", ci),
                'M' => t.Minute.ToString("00", ci),
                'S' => t.Second.ToString("00", ci),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => t.DayOfYear.ToString("000", ci),
                'e' => t.Day.ToString(ci).PadLeft(2),
                '-' when i + 1 < format.Length && format[i + 1] == 'd' => Skip(ref i, t.Day.ToString(ci)),
                '-' when i + 1 < format.Length && format[i + 1] == 'm' => Skip(ref i, t.Month.ToString(ci)),
                '%' => "%",
                _ => throw new PyError($"strftime directive %{d} is not supported"),
            });
        }
        return sb.ToString();
    }

    private static string Skip(ref int i, string s)
    {
        i++;
        return s;
    }
}
