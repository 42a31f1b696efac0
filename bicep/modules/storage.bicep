// Storage: one account, Entra ID only (no shared key), TLS 1.2. Table Storage holds Herald's streams;
// blobs hold the Functions host's state and the Flex Consumption deployment package.

import { tagsType } from 'types.bicep'

@description('Location of the resources.')
param location string

@description('Tags put on every resource.')
param tags tagsType

@description('Name of the storage account.')
param accountName string

@description('Replication of the account.')
param sku 'Standard_LRS' | 'Standard_ZRS' | 'Standard_GRS' | 'Standard_RAGRS'

@description('Table that holds the streams.')
param streamsTableName string

@description('Blob container the Function App is deployed from.')
param deploymentContainerName string

resource account 'Microsoft.Storage/storageAccounts@2026-06-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: sku
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-06-01' = {
  parent: account
  name: 'default'
}

resource streamsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-06-01' = {
  parent: tableService
  name: streamsTableName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-06-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-06-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

@description('Name of the storage account.')
output accountName string = account.name

@description('Table service URL, e.g. https://name.table.core.windows.net/.')
output tableServiceUri string = account.properties.primaryEndpoints.table

@description('Name of the streams table.')
output streamsTableName string = streamsTable.name

@description('URL of the deployment container.')
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'
