using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A query parameter's documentation on an endpoint: what it does and, for a closed set, its values.</summary>
public sealed record QueryDoc(string Name, string Description, string[] Values);

/// <summary>
/// A raw request body (bytes of any type), for the document only: <c>Accepts</c> would also make routing refuse a
/// request without that Content-Type, and clients upload bytes without one.
/// </summary>
public sealed record RawBodyDoc(string ContentType);

/// <summary>
/// <c>GET /openapi.json</c>: the OpenAPI document generated from the endpoints (Microsoft.AspNetCore.OpenApi): their
/// routes, typed parameters, request and response records and content types. Added here: the bearer scheme, the
/// description and allowed values of query parameters bound as text (<see cref="Query"/>), and the error body.
/// </summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddCoordinatorOpenApi(this IServiceCollection services) => services.AddOpenApi(o =>
    {
        o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo { Title = "FineTuneLab coordinator", Version = "1" };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer" };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];
            return Task.CompletedTask;
        });
        o.AddOperationTransformer((operation, context, _) =>
        {
            // Every error is a ProblemDetails that also carries the message as `error` and per-field `details`.
            operation.Responses ??= [];
            operation.Responses.TryAdd("4XX", new OpenApiResponse
            {
                Description = "ProblemDetails {type, title, status, detail} with error (the message) and details ([{path, message}])",
                Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new() },
            });
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RawBodyDoc>().FirstOrDefault() is { } raw)
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        [raw.ContentType] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                    },
                };
            foreach (var doc in context.Description.ActionDescriptor.EndpointMetadata.OfType<QueryDoc>())
            {
                operation.Parameters ??= [];
                var schema = new OpenApiSchema { Type = JsonSchemaType.String };
                if (doc.Values.Length > 0) schema.Enum = doc.Values.Select(v => (JsonNode)JsonValue.Create(v)).ToList();
                var existing = operation.Parameters.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == doc.Name && p.In == ParameterLocation.Query);
                if (existing is null)
                    operation.Parameters.Add(existing = new OpenApiParameter { Name = doc.Name, In = ParameterLocation.Query });
                existing.Description = doc.Description;
                if (doc.Values.Length > 0) existing.Schema = schema;
            }
            return Task.CompletedTask;
        });
    });

    /// <summary>Documents the endpoint's body as raw bytes of <paramref name="contentType"/>.</summary>
    public static RouteHandlerBuilder RawBody(this RouteHandlerBuilder endpoint, string contentType) => endpoint.WithMetadata(new RawBodyDoc(contentType));

    /// <summary>Documents a query parameter of the endpoint (its values, when it takes one of a few).</summary>
    public static RouteHandlerBuilder Query(this RouteHandlerBuilder endpoint, string name, string description, params string[] values) =>
        endpoint.WithMetadata(new QueryDoc(name, description, values));
}
