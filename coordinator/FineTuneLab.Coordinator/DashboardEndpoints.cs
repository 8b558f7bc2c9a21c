namespace FineTuneLab.Coordinator;

/// <summary>
/// The dashboard's static files (wwwroot/, built from ClientApp/) and its deep links: each page path answers
/// index.html, and the page's script renders the route. /api/* is never shadowed.
/// </summary>
public static class DashboardEndpoints
{
    public static readonly string[] PagePaths = ["/jobs/{id}", "/submit", "/compare", "/nodes", "/costs"];

    public static void MapDashboard(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles();
        // Routing after the files: the gRPC gateway's "/{service}/{method}" routes would otherwise claim /vendor/x.js.
        app.UseRouting();
        foreach (var path in PagePaths)
            app.MapFallbackToFile(path, "index.html");
    }
}
