// Container registry for the gateway image (azd pushes it; the Container App pulls with its identity).

import { tagsType } from 'types.bicep'

@description('Location of the resources.')
param location string

@description('Tags put on every resource.')
param tags tagsType

@description('Name of the registry.')
param name string

resource registry 'Microsoft.ContainerRegistry/registries@2025-11-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

@description('Name of the registry.')
output name string = registry.name

@description('Login server, e.g. name.azurecr.io.')
output loginServer string = registry.properties.loginServer
