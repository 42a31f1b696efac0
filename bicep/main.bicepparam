// Parameters for main.bicep. Values marked "env" come from environment variables: azd passes its
// environment (`azd env set NAME value`); with the Azure CLI, export them first (docs/deploy.md).
using 'main.bicep'

// env AZURE_ENV_NAME (azd sets it): tags and unique resource names.
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'herald')

// env, required: the identity provider that signs your users' JWTs. No default, so a missing one
// stops the deployment here instead of starting a gateway that rejects every token.
param jwtJwksUrl = readEnvironmentVariable('HERALD_JWT_JWKS_URL')
param jwtIssuer = readEnvironmentVariable('HERALD_JWT_ISSUER')
param jwtAudience = readEnvironmentVariable('HERALD_JWT_AUDIENCE')

// env, optional: browser origins of your web app, comma-separated.
param allowedOrigins = readEnvironmentVariable('HERALD_ALLOWED_ORIGINS', '')

// env, set by azd after the first deploy, so that a later provision keeps the running image.
param gatewayImage = readEnvironmentVariable('SERVICE_GATEWAY_IMAGE_NAME', '')

// Capacity: Premium for dedicated Service Bus capacity; Free_F1 Web PubSub for a trial.
param serviceBusSku = 'Standard'
param webPubSubSku = 'Standard_S1'
param gatewayMinReplicas = 1
param gatewayMaxReplicas = 10
