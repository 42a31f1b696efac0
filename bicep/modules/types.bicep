// Types shared by main.bicep and the modules.

@export()
@description('Tags put on every resource.')
type tagsType = {
  *: string
}

@export()
@description('Where the gateway and the Functions app find the services, and the settings both must agree on. Each module writes these under the names in core/config.ts.')
type heraldSettingsType = {
  @description('Service Bus namespace host (HERALD_SERVICEBUS__fullyQualifiedNamespace).')
  serviceBusNamespace: string

  @description('Topic notifications are published to (HERALD_TOPIC).')
  topic: string

  @description('Web PubSub endpoint (HERALD_WEBPUBSUB__serviceUri).')
  webPubSubEndpoint: string

  @description('Web PubSub hub (HERALD_WEBPUBSUB_HUB).')
  webPubSubHub: string

  @description('Table service URL (HERALD_STORAGE__tableServiceUri).')
  tableServiceUri: string

  @description('Table that holds the streams (HERALD_STREAMS_TABLE).')
  streamsTable: string

  @description('Stream retention by age (HERALD_RETENTION_SECONDS).')
  retentionSeconds: int

  @description('Stream retention by count (HERALD_RETENTION_COUNT).')
  retentionCount: int

  @description('JWKS URL of the identity provider (HERALD_JWT_JWKS_URL).')
  jwtJwksUrl: string

  @description('Required issuer of application JWTs (HERALD_JWT_ISSUER).')
  jwtIssuer: string

  @description('Required audience of application JWTs (HERALD_JWT_AUDIENCE).')
  jwtAudience: string

  @description('Browser origins allowed to call Herald, comma-separated (HERALD_ALLOWED_ORIGINS).')
  allowedOrigins: string

  @description('Log level (HERALD_LOG_LEVEL).')
  logLevel: logLevelType
}

@export()
@description('Log levels Herald accepts (HERALD_LOG_LEVEL).')
type logLevelType = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

@export()
@description('A user-assigned managed identity as the apps use it.')
type identityType = {
  @description('Resource ID of the identity.')
  id: string

  @description('Client ID of the identity (AZURE_CLIENT_ID).')
  clientId: string
}
